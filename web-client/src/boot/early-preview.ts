/**
 * The page's first script, a few hundred bytes loaded beside the app's
 * bundle: it asks for the notebook's preview (see model/session.ts) at
 * once, so that the request does not wait for the bundle to be compiled
 * and run (60 to 150 ms of the benchmark's cold opens). The app takes the
 * request over (`takeEarlyPreview` in main.ts).
 *
 * A token in the address bar is the app's to adopt: the stored one may be
 * another person's, so nothing is asked then.
 */

import { requestPreview } from "../api/rest";
import { storedToken } from "./token";
import { leaveEarlyPreview, notebookIdFromPath } from "./route";

const notebookId = notebookIdFromPath(window.location.pathname);
const token = storedToken();
if (notebookId && token && !new URL(window.location.href).searchParams.has("token")) {
  const response = requestPreview(window.location.origin, token, notebookId);
  // Unread if the app never takes it (it failed to load): no unhandled rejection.
  response.catch(() => undefined);
  leaveEarlyPreview({ notebookId, token, response });
}
