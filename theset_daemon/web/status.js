// The status page: renders each snapshot of /status/events, the 7-day charts of /status/history,
// and the run-now buttons (the import form: import.js). The DOM is built with textContent only: nothing the
// daemon or an upstream sent is ever parsed as markup.
"use strict";

const CSRF_TOKEN = document.querySelector("meta[name=csrf-token]").content;
// Rate now: the key's requests a second over this window, from the day's counts.
const RATE_WINDOW_MS = 10000;
// The stream sends a snapshot within a second of a change; this long without one means no change.
const QUIET_AFTER_MS = 2500;
// The history is fetched again when a run starts or ends, at most this often, and this often
// anyway so the time axis moves on.
const HISTORY_MIN_INTERVAL_MS = 2000;
const HISTORY_REFRESH_MS = 60000;

const text = (value) => document.createTextNode(value == null ? "" : String(value));
function cell(content, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.append(content instanceof Node ? content : text(content));
  return td;
}
function badge(value) {
  const span = document.createElement("span");
  span.className = "badge " + value;
  span.textContent = value;
  return span;
}
function div(className, value) {
  const node = document.createElement("div");
  if (className) node.className = className;
  if (value != null) node.textContent = value;
  return node;
}
function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const seconds = Math.round((date - Date.now()) / 1000);
  const abs = Math.abs(seconds);
  const span = abs < 90 ? abs + " s" : abs < 5400 ? Math.round(abs / 60) + " min"
    : abs < 129600 ? Math.round(abs / 3600) + " h" : Math.round(abs / 86400) + " d";
  return seconds < 0 ? span + " ago" : "in " + span;
}
const duration = Charts.duration;
function fill(id, rows, empty, columns) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(empty, "empty");
    td.colSpan = columns;
    tr.append(td);
    body.append(tr);
    return [];
  }
  return rows.map((cells) => {
    const tr = document.createElement("tr");
    tr.append(...cells);
    body.append(tr);
    return tr;
  });
}
function progressBar(percent) {
  const bar = div("bar");
  bar.title = percent + "%";
  const span = document.createElement("span");
  span.style.width = Math.max(0, Math.min(100, percent)) + "%";
  bar.append(span);
  return bar;
}
function quotaBar(budget) {
  const bar = div("quota");
  const used = budget.usedToday;
  const quota = budget.dailyQuota;
  for (const kind of ["interactive", "background"]) {
    const span = document.createElement("span");
    span.className = kind;
    span.style.width = Math.min(100, (used[kind] / quota) * 100) + "%";
    bar.append(span);
  }
  const reserve = div("reserve");
  reserve.style.left = ((1 - budget.interactiveReserve) * 100) + "%";
  bar.append(reserve);
  bar.title = used.interactive + " interactive + " + used.background + " background of " +
    quota + "; the jobs stop at " + Math.floor(quota * (1 - budget.interactiveReserve));
  return bar;
}
function today(budget) {
  const used = budget.usedToday;
  const box = div();
  const total = used.interactive + used.background;
  box.append(text(total + (budget.dailyQuota ? " of " + budget.dailyQuota : " (no daily quota)") +
    " · " + used.interactive + " imports, " + used.background + " jobs"));
  if (budget.dailyQuota) box.append(quotaBar(budget));
  return box;
}
function count(value) {
  // a plan of a few requests a day (setlists of a small catalog) must not read as 0
  return value > 0 && value < 10 ? value.toFixed(1) : Math.round(value).toLocaleString("en");
}
function planAgainstBudget(plan) {
  const box = div();
  if (!plan) {
    box.append(text("—"));
    return box;
  }
  const days = plan.daysToRefreshAll;
  box.append(text(count(plan.requestsPerDay) + " of " + count(plan.backgroundSharePerDay) +
    " req/day "), badge(plan.fits ? "fits" : "over budget"));
  const bar = progressBar(plan.backgroundSharePerDay > 0
    ? (plan.requestsPerDay / plan.backgroundSharePerDay) * 100 : 100);
  bar.classList.add("plan", plan.fits ? "fits" : "over");
  bar.title = "the refresh plan's requests a day against the jobs' share of the day";
  box.append(bar, div("small", "every artist refreshed in " + (plan.backgroundSharePerDay > 0
    ? (days < 1 ? (days * 24).toFixed(1) + " h" : days.toFixed(1) + " d") : "— (no share)")));
  return box;
}

// --- rate now and today's burn-down, from the day's counts each snapshot carries ------------

const samples = {};  // provider -> [{at, interactive, background}], oldest first, today only
function sample(name, budget, at) {
  const list = samples[name] || (samples[name] = []);
  const used = budget.usedToday;
  const lastSample = list[list.length - 1];
  if (lastSample && used.interactive + used.background < lastSample.interactive +
      lastSample.background) list.length = 0;  // a new day
  list.push({at, interactive: used.interactive, background: used.background});
  // The rate's window in full; before it, a point a minute is enough for the burn-down.
  const cutoff = at - RATE_WINDOW_MS - 1000;
  const kept = [];
  for (const point of list) {
    const previous = kept[kept.length - 1];
    if (point.at < cutoff && previous && point.at - previous.at < 60000) continue;
    kept.push(point);
  }
  samples[name] = kept.slice(-2000);
}
function ratePerS(name) {
  const list = (samples[name] || []).filter((p) => p.at >= Date.now() - RATE_WINDOW_MS - 500);
  if (list.length < 2) return null;
  const first = list[0], last = list[list.length - 1];
  const span = (last.at - first.at) / 1000;
  if (span < 1) return null;
  const sent = last.interactive + last.background - first.interactive - first.background;
  return Math.max(0, sent / span);
}
function rateCell(name, budget) {
  const box = div("rate");
  const rate = ratePerS(name);
  const limit = budget.maxRatePerS;
  box.append(text((rate == null ? "—" : rate.toFixed(1) + "/s") + " of " + limit + "/s"));
  const bar = progressBar(rate == null ? 0 : (rate / limit) * 100);
  bar.classList.add("rate-bar");
  if (rate != null && rate >= limit * 0.9) bar.classList.add("busy");
  bar.title = "requests a second over the last 10 s, against the key's limit";
  box.append(bar);
  box.dataset.rate = rate == null ? "" : rate.toFixed(2);
  return box;
}
function renderBurndown(upstream, plans) {
  const cards = Object.keys(upstream).map((name) => {
    const budget = upstream[name];
    const card = div("card");
    card.dataset.provider = name;
    const title = document.createElement("h3");
    title.textContent = name;
    card.append(title);
    if (!budget.dailyQuota || !budget.resetsAt) {
      const used = budget.usedToday;
      card.append(div("small", "no daily quota · " + (used.interactive + used.background) +
        " requests today"));
      return card;
    }
    card.append(Charts.burndown(budget, samples[name] || [], plans[name]));
    card.append(div("small", budget.remainingToday + " left · resets " + when(budget.resetsAt)));
    return card;
  });
  document.getElementById("burndown").replaceChildren(...cards);
}
function renderUpstream(upstream, plans) {
  const names = Object.keys(upstream);
  const rows = fill("upstream", names.map((name) => {
    const budget = upstream[name];
    return [
      cell(name),
      cell(today(budget)),
      cell(budget.remainingToday == null ? "—" : budget.remainingToday),
      cell(budget.resetsAt ? when(budget.resetsAt) : "—", "hide-narrow"),
      cell(rateCell(name, budget), "hide-narrow"),
      cell(budget.limiter + " · " + budget.liveDaemons +
        (budget.liveDaemons === 1 ? " daemon" : " daemons"), "hide-narrow"),
      cell(badge(budget.breaker)),
      cell(planAgainstBudget(plans[name]), "plan"),
    ];
  }), "no upstreams", 8);
  names.forEach((name, index) => { if (rows[index]) rows[index].dataset.provider = name; });
  renderBurndown(upstream, plans);
  document.body.dataset.providers = names.length;
}

// --- run now ------------------------------------------------------------------------------

const runNotes = {};  // job -> {kind: ok|warn|bad, message}; the table is redrawn each snapshot
const runPending = new Set();
function runButton(job) {
  const box = document.createElement("span");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = runPending.has(job.name) ? "starting…" : "Run now";
  // Not disabled while the job runs: the snapshot may be a second old, and another daemon may
  // start it; the daemon's 409 is the answer that counts, and the note shows it.
  button.disabled = runPending.has(job.name);
  if (job.state === "running") button.title = "running now: a second run would be refused";
  button.dataset.job = job.name;
  button.addEventListener("click", () => runNow(job.name));
  box.append(button);
  const note = runNotes[job.name];
  if (note) {
    const span = document.createElement("span");
    span.className = "note " + note.kind;
    span.textContent = note.message;
    box.append(span);
  }
  return box;
}
async function runNow(job) {
  runPending.add(job);
  render(lastSnapshot);
  try {
    const response = await fetch("status/jobs/" + encodeURIComponent(job) + "/run", {
      method: "POST",
      headers: {"X-CSRF-Token": CSRF_TOKEN},
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 202) {
      runNotes[job] = {kind: "ok", message: "started run " + body.runId.slice(0, 8)};
    } else if (response.status === 409) {
      runNotes[job] = {kind: "warn", message: "already running" +
        (body.runId ? " (run " + body.runId.slice(0, 8) + ")" : "") + ": not started again"};
    } else {
      const error = body.error || {};
      runNotes[job] = {kind: "bad", message: (error.message || "refused") +
        " (" + response.status + ")"};
    }
  } catch (error) {
    runNotes[job] = {kind: "bad", message: "the daemon did not answer: " + error.message};
  } finally {
    runPending.delete(job);
    render(lastSnapshot);
  }
}

// --- the last 7 days ---------------------------------------------------------------------

let historyAsked = 0, historyKey = "", historyTimer = null;
async function loadHistory() {
  historyAsked = Date.now();
  try {
    const response = await fetch("status/history", {credentials: "same-origin"});
    if (!response.ok) return;
    renderHistory(await response.json());
  } catch (error) {
    // the stream's "reconnecting…" already says the daemon is away; the next change retries
  }
}
function askHistory(key) {
  if (key === historyKey) return;
  historyKey = key;
  clearTimeout(historyTimer);
  const wait = Math.max(0, historyAsked + HISTORY_MIN_INTERVAL_MS - Date.now());
  historyTimer = setTimeout(loadHistory, wait);
}
function renderHistory(history) {
  const cards = Object.entries(history.jobs).map(([name, job]) => {
    const card = div("card job-history");
    card.dataset.job = name;
    const title = document.createElement("h3");
    title.textContent = name;
    const total = job.days.reduce((sum, day) =>
      sum + Object.values(day.runs).reduce((a, b) => a + b, 0), 0);
    const failed = job.days.reduce((sum, day) => sum + (day.runs.failed || 0), 0);
    const ended = job.runs.filter((run) => run.durationMs != null)
      .map((run) => run.durationMs).sort((a, b) => a - b);
    const median = ended.length ? ended[Math.floor(ended.length / 2)] : null;
    const summary = div("small", total + (total === 1 ? " run" : " runs") + " · " + failed +
      " failed · median " + duration(median) + (job.capped ? " · newest " + job.runs.length +
      " drawn" : ""));
    summary.classList.add("summary");
    card.dataset.runs = total;
    card.append(title, summary, Charts.durations(job.runs, history.since, history.until),
      Charts.outcomes(job.days));
    return card;
  });
  document.getElementById("history").replaceChildren(...cards);
  document.body.dataset.history = String(Date.now());
}

// --- the snapshot ----------------------------------------------------------------------------

let lastSnapshot = null;
function render(snapshot) {
  if (!snapshot) return;
  lastSnapshot = snapshot;
  const overall = document.getElementById("overall");
  overall.className = "badge " + snapshot.status;
  overall.textContent = snapshot.status;
  document.getElementById("instance").textContent =
    snapshot.instance + " · v" + snapshot.version;
  const jobRows = fill("jobs", snapshot.jobs.map((job) => [
    cell(job.name),
    cell(badge(job.enabled ? job.state : job.state + " (paused)")),
    cell(job.lastRun ? job.lastRun.status + ", " + when(job.lastRun.startedAt) : "never"),
    cell(when(job.nextRunAt)),
    cell(job.consecutiveFailures, "hide-narrow"),
    cell(Math.round(job.errorRate24h * 100) + "%", "hide-narrow"),
    cell(job.schedule, "hide-narrow"),
    cell(runButton(job), "act"),
  ]), "no jobs", 8);
  snapshot.jobs.forEach((job, index) => {
    if (jobRows[index]) jobRows[index].dataset.job = job.name;
  });
  fill("imports", snapshot.imports.map((item) => [
    cell(item.artist),
    cell(badge(item.status)),
    cell(progressBar(item.progress)),
    cell(item.stage, "hide-narrow"),
  ]), "no imports in the last 10 minutes", 4);
  fill("runs", snapshot.recentRuns.map((run) => [
    cell(run.job),
    cell(badge(run.status)),
    cell(when(run.startedAt)),
    cell(duration(run.durationMs)),
    cell(run.trigger, "hide-narrow"),
    cell(run.total ? run.done + " / " + run.total : "—", "hide-narrow"),
    cell(run.error || "", "hide-narrow msg"),
  ]), "no runs yet", 7);
  const alerts = document.getElementById("alerts");
  alerts.replaceChildren();
  if (!snapshot.activeAlerts.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "none";
    alerts.append(li);
  }
  for (const alert of snapshot.activeAlerts) {
    const li = document.createElement("li");
    const detail = div("small", alert.job + " · " + alert.rule + " · fired " +
      when(alert.firedAt) + (alert.channels.length ? " · sent to " +
      alert.channels.join(", ") : ""));
    li.append(badge(alert.severity), text(" " + alert.message), detail);
    alerts.append(li);
  }
  renderUpstream(snapshot.upstream, snapshot.plan || {});
  document.body.dataset.jobs = snapshot.jobs.length;
  askHistory(snapshot.recentRuns.map((run) => run.runId + ":" + run.status).join(","));
}

const live = document.getElementById("live");
let lastEventAt = 0;
function onSnapshot(snapshot) {
  lastEventAt = Date.now();
  for (const [name, budget] of Object.entries(snapshot.upstream)) sample(name, budget, lastEventAt);
  render(snapshot);
}
const stream = new EventSource("status/events");
stream.addEventListener("snapshot", (event) => {
  onSnapshot(JSON.parse(event.data));
  live.textContent = "live · updated " + new Date().toLocaleTimeString();
});
stream.onerror = () => { live.textContent = "reconnecting…"; };
// The stream is silent while nothing changes: no change is a count, so the rate falls to 0.
setInterval(() => {
  if (!lastSnapshot || stream.readyState !== EventSource.OPEN) return;
  if (Date.now() - lastEventAt < QUIET_AFTER_MS) return;
  for (const [name, budget] of Object.entries(lastSnapshot.upstream)) {
    sample(name, budget, Date.now());
  }
  renderUpstream(lastSnapshot.upstream, lastSnapshot.plan || {});
}, 1000);
setInterval(loadHistory, HISTORY_REFRESH_MS);
