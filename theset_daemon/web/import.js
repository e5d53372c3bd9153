// The status page's import form: POST /api/artists/import (the public route, CONTRACT.md
// section 3), then its progress stream followed to complete or failed. Uses status.js's helpers;
// text only, as there.
"use strict";

function importStatus(status) {
  const box = document.getElementById("import-progress");
  const line = div(null);
  line.append(badge(status.status), text(" " + status.stage + " · " + status.progress + "% · " +
    (status.message || "")));
  const counts = status.counts || {};
  box.replaceChildren(line, progressBar(status.progress), div("small", (counts.shows || 0) +
    " shows · " + (counts.venues || 0) + " venues · " + (counts.albums || 0) + " albums · " +
    (counts.songs || 0) + " songs" + (status.error ? " · " + status.error.message : "")));
  box.dataset.status = status.status;
  box.dataset.progress = status.progress;
}
function importMessage(kind, message) {
  const box = document.getElementById("import-progress");
  box.hidden = false;
  const note = div("note " + kind, message);
  box.replaceChildren(note);
  box.dataset.status = kind === "bad" ? "refused" : "starting";
}
let importStream = null;
async function startImport(event) {
  event.preventDefault();
  const kind = document.getElementById("import-kind").value;
  const value = document.getElementById("import-value").value.trim();
  const submit = document.getElementById("import-submit");
  if (!value) return;
  if (importStream) importStream.close();
  submit.disabled = true;
  importMessage("ok", "starting the import of " + value + "…");
  try {
    const response = await fetch("api/artists/import", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({[kind]: value}),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      importMessage("bad", ((body.error || {}).message || "refused") + " (" + response.status +
        (retry ? ", retry in " + retry + " s" : "") + ")");
      return;
    }
    importMessage("ok", body.artist.name + (body.reused ? ": imported recently, shown again"
      : body.deduplicated ? ": already importing, following it" : ": started"));
    followImport(body.progressUrl);
  } catch (error) {
    importMessage("bad", "the daemon did not answer: " + error.message);
  } finally {
    submit.disabled = false;
  }
}
function followImport(progressUrl) {
  const stream = new EventSource(progressUrl);
  importStream = stream;
  for (const name of ["progress", "complete", "failed"]) {
    stream.addEventListener(name, (event) => {
      importStatus(JSON.parse(event.data));
      if (name !== "progress") {
        stream.close();
        document.getElementById("import-progress").dataset.outcome = name;
      }
    });
  }
}
document.getElementById("import-form").addEventListener("submit", startImport);

