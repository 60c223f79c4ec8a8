// A session's summary as the live page (after Stop) and the History view both show it: a table
// per exercise and a bar of the coached spans. Loaded before app.js and history.js.
"use strict";

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function minutes(seconds) {
  return seconds >= 60 ? `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`
    : `${Math.round(seconds)} s`;
}

// Per exercise: time coached, reps (a dash when no counter ran), corrections, other lines.
function summaryTable(exercises) {
  const table = el("table", undefined, "summary");
  const head = el("tr");
  for (const h of ["exercise", "time", "reps", "corrections", "other lines"]) head.append(el("th", h));
  table.append(head);
  for (const e of exercises) {
    const row = el("tr");
    row.append(el("td", e.exercise), el("td", minutes(e.seconds)),
      el("td", e.reps === null ? "\u2013" : String(e.reps)), el("td", String(e.corrections)),
      el("td", String(e.other_lines)));
    table.append(row);
  }
  if (!exercises.length) {
    const row = el("tr");
    const td = el("td", "No exercise was coached.");
    td.colSpan = 5;
    row.append(td);
    table.append(row);
  }
  return table;
}

// One coloured bar per coached span, across the session's length.
function timelineBar(summary) {
  const SVG = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 100 6");
  svg.setAttribute("class", "spans");
  const names = [...new Set(summary.timeline.map((t) => t[2]))];
  const total = Math.max(summary.seconds, 1e-6);
  for (const [start, end, name] of summary.timeline) {
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("x", (100 * start) / total);
    rect.setAttribute("width", Math.max((100 * (end - start)) / total, 0.3));
    rect.setAttribute("y", 0);
    rect.setAttribute("height", 6);
    rect.setAttribute("fill", `hsl(${(names.indexOf(name) * 67) % 360} 55% 45%)`);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${name}: ${start.toFixed(0)}-${end.toFixed(0)} s`;
    rect.append(title);
    svg.append(rect);
  }
  return svg;
}
