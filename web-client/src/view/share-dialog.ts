/**
 * Sharing a notebook: the owner makes a person's access (a new user with a
 * role in this notebook) and gets a link carrying that person's token to
 * send them. Creating users is a server administrator's right; an owner who
 * is not one is told so.
 */

import { Api, ApiError, type Me, type NotebookSummary } from "../api/rest";
import { h } from "./dom";

export function showShareDialog(api: Api, me: Me, notebook: NotebookSummary): void {
  const dialog = h("dialog.share", { "aria-label": `Share ${notebook.name}` });
  const name = h("input", { placeholder: "Their name", "aria-label": "Person's name", required: true });
  const role = h(
    "select",
    { "aria-label": "Role" },
    h("option", { value: "editor" }, "Editor (edits and runs)"),
    h("option", { value: "viewer" }, "Viewer (reads only)"),
    h("option", { value: "owner" }, "Owner"),
  );
  const result = h("div.share-result", { role: "status" });
  const form = h(
    "form",
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        result.textContent = "";
        try {
          const user = await api.createUser(name.value.trim());
          await api.grant(notebook.id, user.user_id, role.value as "owner" | "editor" | "viewer");
          const link = `${window.location.origin}/notebooks/${encodeURIComponent(notebook.id)}?token=${encodeURIComponent(user.token)}`;
          const field = h("input.share-link", { readonly: true, value: link, "aria-label": "Link to send" });
          result.append(
            h("p", {}, `${user.name} can now open “${notebook.name}” as ${role.value}. Send them this link (it signs them in; it is shown once):`),
            field,
            h(
              "button.small",
              {
                type: "button",
                onclick: () => {
                  field.select();
                  void navigator.clipboard?.writeText(link);
                },
              },
              "Copy",
            ),
          );
        } catch (err) {
          const msg = err instanceof ApiError ? err.message : String(err);
          result.append(h("p.error", {}, me.is_admin ? msg : `${msg} (creating people needs a server administrator)`));
        }
      },
    },
    h("h2", {}, `Share “${notebook.name}”`),
    h("label", {}, "Name ", name),
    h("label", {}, "Role ", role),
    h(
      "div.buttons",
      {},
      h("button.primary", { type: "submit" }, "Create access"),
      h("button", { type: "button", onclick: () => dialog.close() }, "Close"),
    ),
    result,
  );
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}
