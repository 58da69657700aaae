/**
 * The notebook list (`/`): create, rename, open, import a `.ipynb` (pick or
 * drop), export, start or stop a runtime, share. Every server call goes
 * through `api/rest.ts`.
 */

import { Api, ApiError, type Me, type NotebookSummary, type RuntimeStatus } from "../api/rest";
import { clear, download, h } from "./dom";
import { showShareDialog } from "./share-dialog";

export interface ListContext {
  api: Api;
  me: Me;
}

export async function showNotebookList(root: HTMLElement, ctx: ListContext): Promise<void> {
  clear(root);
  document.title = "Notebooks · cathode";
  const status = h("p.status", { role: "status", "aria-live": "polite" });
  const rows = h("tbody");
  const table = h(
    "table.notebooks",
    {},
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Role"), h("th", {}, "Runtime"), h("th", {}, "Actions"))),
    rows,
  );
  const say = (text: string, error = false) => {
    status.textContent = text;
    status.classList.toggle("error", error);
  };
  const report = (e: unknown) => say(e instanceof ApiError ? e.message : String(e), true);

  const refresh = async () => {
    try {
      const notebooks = await ctx.api.listNotebooks();
      clear(rows);
      if (notebooks.length === 0) {
        rows.append(h("tr", {}, h("td.empty", { colspan: 4 }, "No notebooks yet: create one or import a .ipynb file.")));
      }
      for (const n of notebooks) rows.append(notebookRow(ctx, n, refresh, say, report));
    } catch (e) {
      report(e);
    }
  };

  const nameInput = h("input", { name: "name", placeholder: "Untitled", "aria-label": "New notebook name" });
  const create = h(
    "form.create",
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const created = await ctx.api.createNotebook(nameInput.value.trim() || "Untitled");
          window.location.assign(`/notebooks/${encodeURIComponent(created.id)}`);
        } catch (err) {
          report(err);
        }
      },
    },
    nameInput,
    h("button.primary", { type: "submit" }, "New notebook"),
  );

  const fileInput = h("input", { type: "file", accept: ".ipynb,application/x-ipynb+json,application/json", hidden: true });
  const importFiles = async (files: FileList | File[]) => {
    for (const file of Array.from(files)) {
      say(`Importing ${file.name}…`);
      try {
        const result = await ctx.api.importNotebook(file);
        const repaired = result.repaired?.length ? ` (${result.repaired.length} cell ids repaired)` : "";
        say(`Imported ${file.name} as “${result.name}”${repaired}.`);
      } catch (err) {
        report(err);
      }
    }
    await refresh();
  };
  fileInput.addEventListener("change", () => {
    if (fileInput.files) void importFiles(fileInput.files);
    fileInput.value = "";
  });
  const drop = h(
    "div.dropzone",
    { tabindex: 0, role: "button", "aria-label": "Import a .ipynb file" },
    "Drop a .ipynb file here, or ",
    h("button.link", { type: "button", onclick: () => fileInput.click() }, "pick one"),
    fileInput,
  );
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer?.files.length) void importFiles(e.dataTransfer.files);
  });

  root.append(
    h(
      "header.topbar",
      {},
      h("span.brand", {}, "cathode"),
      h("span.spacer"),
      h("span.me", {}, `${ctx.me.name}${ctx.me.is_admin ? " (admin)" : ""}`),
    ),
    h("main.list", {}, h("h1", {}, "Notebooks"), h("div.list-actions", {}, create, drop), status, table),
  );
  await refresh();
}

function notebookRow(
  ctx: ListContext,
  n: NotebookSummary,
  refresh: () => Promise<void>,
  say: (t: string, e?: boolean) => void,
  report: (e: unknown) => void,
): HTMLTableRowElement {
  const canWrite = n.role === "owner" || n.role === "editor";
  const runtimeCell = h("td.runtime", {}, "…");
  const showRuntime = (s: RuntimeStatus) => {
    clear(runtimeCell);
    runtimeCell.append(
      h(`span.state.state-${s.state}`, { title: s.reason ?? "" }, s.state),
      s.kernel ? h("span.kernel", {}, ` ${s.kernel}`) : "",
    );
    if (canWrite) {
      const running = s.state !== "none" && s.state !== "dead";
      runtimeCell.append(
        h(
          "button.small",
          {
            onclick: async () => {
              try {
                showRuntime(running ? await ctx.api.stopRuntime(n.id) : await ctx.api.startRuntime(n.id));
              } catch (e) {
                report(e);
              }
            },
          },
          running ? "Stop" : "Start",
        ),
      );
    }
  };
  ctx.api.runtimeStatus(n.id).then(showRuntime, () => (runtimeCell.textContent = "?"));

  const link = h("a.name", { href: `/notebooks/${encodeURIComponent(n.id)}` }, n.name);
  const nameCell = h("td", {}, link);
  const rename = () => {
    const input = h("input", { value: n.name, "aria-label": "Notebook name" });
    const save = async () => {
      const name = input.value.trim();
      if (!name || name === n.name) return void refresh();
      try {
        await ctx.api.renameNotebook(n.id, name);
        say(`Renamed to “${name}”.`);
      } catch (e) {
        report(e);
      }
      await refresh();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") void save();
      if (e.key === "Escape") void refresh();
    });
    input.addEventListener("blur", () => void save());
    clear(nameCell);
    nameCell.append(input);
    input.focus();
    input.select();
  };
  const actions = h(
    "td.actions",
    {},
    h("a.button.small", { href: `/notebooks/${encodeURIComponent(n.id)}` }, "Open"),
    canWrite ? h("button.small", { onclick: rename }, "Rename") : null,
    h(
      "button.small",
      {
        onclick: async () => {
          try {
            const { blob, filename } = await ctx.api.exportNotebook(n.id);
            download(blob, filename);
          } catch (e) {
            report(e);
          }
        },
      },
      "Export",
    ),
    n.role === "owner" ? h("button.small", { onclick: () => showShareDialog(ctx.api, ctx.me, n) }, "Share") : null,
  );
  return h("tr", { "data-notebook-id": n.id }, nameCell, h("td", {}, n.role), runtimeCell, actions);
}
