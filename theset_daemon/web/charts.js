// The status page's charts, drawn as inline SVG (why not a library: routes_dashboard.py).
// Every element is made with createElementNS and every label set with textContent: data never
// reaches the DOM as markup. Colours come from classes in status.css (no inline style: the page's
// Content-Security-Policy allows none).
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const DAY_MS = 86400000;

  function el(name, attrs, className) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (className) node.setAttribute("class", className);
    return node;
  }
  function label(x, y, value, anchor) {
    const node = el("text", {x, y, "text-anchor": anchor || "start"});
    node.textContent = value;
    return node;
  }
  function titled(node, value) {
    const title = el("title");
    title.textContent = value;
    node.append(title);
    return node;
  }
  function frame(width, height, name) {
    const svg = el("svg", {viewBox: "0 0 " + width + " " + height, role: "img"}, "chart " + name);
    svg.setAttribute("aria-label", name);
    return svg;
  }
  function duration(ms) {
    if (ms == null) return "—";
    return ms < 1000 ? ms + " ms" : ms < 120000 ? (ms / 1000).toFixed(1) + " s"
      : Math.round(ms / 60000) + " min";
  }
  function outcome(status) {
    return status === "interrupted" ? "partial interrupted" : status;
  }

  // Each run as a bar at its start time, its height its duration; a running one a marker.
  function durations(runs, sinceIso, untilIso) {
    const width = 320, height = 96, top = 10, bottom = 16, left = 2;
    const since = Date.parse(sinceIso), until = Math.max(Date.parse(untilIso), since + 1);
    const plotHeight = height - top - bottom;
    const svg = frame(width, height, "durations");
    const longest = Math.max(1, ...runs.map((run) => run.durationMs || 0));
    const x = (iso) => left + ((Date.parse(iso) - since) / (until - since)) * (width - left * 2);
    for (let day = since; day < until; day += DAY_MS) {
      const at = x(new Date(day).toISOString());
      svg.append(el("line", {x1: at, x2: at, y1: top, y2: height - bottom}, "axis"));
      // (a day begun less than a label's width ago goes unlabelled: the label would not fit)
      const name = new Date(day).toISOString().slice(5, 10);
      if (at + 26 < width) svg.append(label(at + 2, height - 4, name));
    }
    svg.append(el("line", {x1: 0, x2: width, y1: height - bottom, y2: height - bottom}, "axis"));
    svg.append(label(width - 2, top - 2, "max " + duration(longest), "end"));
    for (const run of runs) {
      const ms = run.durationMs;
      const barHeight = ms == null ? 3 : Math.max(1.5, (ms / longest) * plotHeight);
      const bar = el("rect", {
        x: x(run.startedAt) - 1, y: height - bottom - barHeight, width: 2.5, height: barHeight,
      }, outcome(run.status));
      bar.dataset.status = run.status;
      svg.append(titled(bar, run.status + " · " + duration(ms) + " · " + run.trigger + " · " +
        new Date(run.startedAt).toLocaleString()));
    }
    return svg;
  }

  // The runs of each day, stacked by outcome, with the day's count above.
  function outcomes(days) {
    const width = 320, height = 70, top = 10, bottom = 14;
    const order = ["succeeded", "partial", "interrupted", "failed", "running"];
    const svg = frame(width, height, "outcomes");
    const totals = days.map((day) => Object.values(day.runs).reduce((a, b) => a + b, 0));
    const most = Math.max(1, ...totals);
    const slot = width / Math.max(1, days.length);
    days.forEach((day, index) => {
      let y = height - bottom;
      const x = index * slot + slot * 0.2;
      for (const status of order) {
        const count = day.runs[status] || 0;
        if (!count) continue;
        const barHeight = (count / most) * (height - top - bottom);
        y -= barHeight;
        const bar = el("rect", {x, y, width: slot * 0.6, height: barHeight}, outcome(status));
        bar.dataset.status = status;
        svg.append(titled(bar, day.day + ": " + count + " " + status));
      }
      svg.append(label(x + slot * 0.3, y - 2, totals[index], "middle"));
      svg.append(label(x + slot * 0.3, height - 3, day.day.slice(5), "middle"));
    });
    svg.append(el("line", {x1: 0, x2: width, y1: height - bottom, y2: height - bottom}, "axis"));
    return svg;
  }

  // Today's quota from the day's start to its reset: what is left after each class's use (a band
  // each, the jobs' on top), the reserve line, and the plan's pace from now to the reset.
  // samples: [{at: ms, interactive, background}], oldest first, all of today.
  function burndown(budget, samples, plan) {
    const width = 320, height = 110, top = 10, bottom = 16, left = 34, right = 6;
    const quota = budget.dailyQuota;
    const reset = Date.parse(budget.resetsAt);
    const start = reset - DAY_MS;
    const now = Math.min(Math.max(Date.now(), start), reset);
    const svg = frame(width, height, "burndown");
    const x = (at) => left + ((at - start) / DAY_MS) * (width - left - right);
    const y = (left_) => top + (1 - Math.max(0, left_) / quota) * (height - top - bottom);
    const points = [{at: start, interactive: 0, background: 0}, ...samples.filter(
      (sample) => sample.at >= start && sample.at <= reset)];
    const last = points[points.length - 1];
    points.push({at: now, interactive: last.interactive, background: last.background});
    const band = (upper, lower) => points.map((p) => x(p.at) + "," + y(quota - upper(p))).join(" ")
      + " " + points.slice().reverse().map((p) => x(p.at) + "," + y(quota - lower(p))).join(" ");
    svg.append(titled(el("polygon", {points: band(() => 0, (p) => p.background)}, "background"),
      "the jobs' requests today: " + last.background));
    svg.append(titled(el("polygon", {
      points: band((p) => p.background, (p) => p.background + p.interactive),
    }, "interactive"), "the imports' requests today: " + last.interactive));
    const remaining = el("polyline", {
      points: points.map((p) => x(p.at) + "," + y(quota - p.background - p.interactive)).join(" "),
    }, "remaining");
    svg.append(titled(remaining, "left today: " + (quota - last.background - last.interactive)));
    const reserve = quota * budget.interactiveReserve;
    svg.append(titled(el("line", {x1: left, x2: width - right, y1: y(reserve), y2: y(reserve)},
      "reserve-line"), "the reserve: the jobs stop before the quota gets this low (" +
      Math.round(reserve) + ")"));
    if (plan) {
      const left_ = quota - last.background - last.interactive;
      const projected = Math.max(reserve, left_ - plan.requestsPerDay * ((reset - now) / DAY_MS));
      svg.append(titled(el("polyline", {
        points: x(now) + "," + y(left_) + " " + x(reset) + "," + y(Math.min(left_, projected)),
      }, "projection"), "at the refresh plan's pace: " + Math.round(Math.min(left_, projected)) +
        " left at the reset"));
    }
    svg.append(el("line", {x1: x(now), x2: x(now), y1: top, y2: height - bottom}, "now"));
    svg.append(el("line", {x1: left, x2: width - right, y1: height - bottom, y2: height - bottom},
      "axis"));
    svg.append(label(left - 3, top + 4, quota, "end"), label(left - 3, height - bottom, 0, "end"));
    svg.append(label(left, height - 3, "00:00"), label(width - right, height - 3, "reset", "end"));
    svg.dataset.left = quota - last.background - last.interactive;
    return svg;
  }

  return {durations, outcomes, burndown, duration};
})();
