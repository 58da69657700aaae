/** The page's side of `AiCellHost`: the REST call, the controller's cell ops, selection. */

import type { AiModels } from "../../api/rest";
import * as nb from "../../doc/notebook";
import type { NotebookPage } from "../notebook-page";
import type { AiCellHost } from "./hooks";

export function aiCellHost(page: NotebookPage): AiCellHost {
  let models: Promise<AiModels> | undefined;
  return {
    models: () => {
      models ??= page.ctx.api.aiModels();
      // A failure is asked again by the next AI cell.
      models.catch(() => (models = undefined));
      return models;
    },
    canEdit: () => !page.session.readOnly,
    insertBelow: (after, type, source) => {
      if (page.session.readOnly || !nb.hasCell(page.session.notebook, after)) return;
      page.controller.insertBelowWith(after, type, source);
    },
    reveal: (id) => {
      const view = page.views.get(id);
      if (!view) return false;
      page.contents.reveal(id);
      page.controller.activate(id, "command");
      view.el.scrollIntoView({ block: "center" });
      return true;
    },
    label: (id) => {
      const i = nb.cellOrder(page.session.notebook).findIndex((c) => c.id === id);
      return i < 0 ? undefined : `cell ${i + 1}`;
    },
  };
}
