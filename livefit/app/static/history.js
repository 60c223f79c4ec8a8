// The History view: GET /api/history (sessions newest first, per-exercise progress) and
// GET /api/history/{id} (one session's summary and lines). Plain DOM, no framework.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg"; // the progress plot's elements
let progress = {};

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function getJson(url) {
  const answer = await fetch(url, { credentials: "same-origin" });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(body.message || `${url}: HTTP ${answer.status}`);
  return body;
}

function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function exerciseLine(e) {
  const reps = e.reps === null ? "" : `, ${e.reps} reps`;
  return `${e.exercise}: ${minutes(e.seconds)}${reps}, ${e.corrections} correction(s)`;
}

function renderSessions(sessions) {
  const list = $("sessions");
  list.replaceChildren();
  if (!sessions.length) {
    list.append(el("li", "No sessions yet: coach a workout on the live page.", "empty"));
    return;
  }
  for (const s of sessions) {
    const item = el("li");
    const button = el("button", "", "session");
    button.type = "button";
    button.dataset.id = s.id;
    button.append(el("time", when(s.started)), el("span", ` ${s.source}, ${minutes(s.seconds)}`, "what"));
    const names = s.summary.exercises.map(exerciseLine);
    button.append(el("p", names.join("; ") || "no exercise coached"));
    button.addEventListener("click", () => showSession(s.id));
    item.append(button);
    list.append(item);
  }
}

async function showSession(id) {
  const box = $("detail");
  try {
    const s = await getJson(`/api/history/${id}`);
    box.replaceChildren(el("p", `${when(s.started)}: ${s.source}, ${minutes(s.seconds)}, coach ${s.coach}`));
    box.append(summaryTable(s.summary.exercises), timelineBar(s.summary));
    const said = s.events.filter((e) => e.kind === "feedback");
    const lines = el("ol", undefined, "timeline");
    for (const e of said) {
      const li = el("li");
      li.append(el("time", `${e.time.toFixed(1)} s`), el("span", e.exercise, "what"), el("p", e.text));
      lines.append(li);
    }
    if (said.length) box.append(lines);
  } catch (err) {
    showError(err.message);
  }
}

// Progress over sessions: the chosen measure of one exercise, one point per session.
function renderProgress() {
  const box = $("progress");
  const exercise = $("progress-exercise").value;
  const measure = $("progress-measure").value;
  const points = (progress[exercise] || []).filter((p) => p[measure] !== null);
  box.replaceChildren();
  if (!points.length) {
    box.append(el("p", exercise ? `No ${measure} recorded for ${exercise}.` : "No sessions yet.", "empty"));
    return;
  }
  const w = 320, h = 140, pad = 28;
  const top = Math.max(...points.map((p) => p[measure]), 1);
  const x = (i) => pad + (points.length === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (points.length - 1));
  const y = (v) => h - pad - (v * (h - 2 * pad)) / top;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${measure} of ${exercise} per session`);
  const axis = document.createElementNS(SVG, "path");
  axis.setAttribute("d", `M${pad} ${pad / 2} V${h - pad} H${w - pad / 2}`);
  axis.setAttribute("class", "axis");
  svg.append(axis);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.map((p, i) => `${x(i)},${y(p[measure])}`).join(" "));
  line.setAttribute("class", "line");
  svg.append(line);
  points.forEach((p, i) => {
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", x(i));
    dot.setAttribute("cy", y(p[measure]));
    dot.setAttribute("r", 3.5);
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${when(p.started)}: ${p[measure]} ${measure}`;
    dot.append(title);
    svg.append(dot);
  });
  const label = document.createElementNS(SVG, "text");
  label.setAttribute("x", 2);
  label.setAttribute("y", pad / 2 + 4);
  label.textContent = String(Math.round(top));
  svg.append(label);
  box.append(svg);
}

async function load() {
  try {
    const answer = await getJson("/api/history");
    if (answer.set_aside) showError(`The history file was damaged and was moved to ${answer.set_aside}; a new one started.`);
    progress = answer.progress;
    const anyReps = Object.values(progress).some((points) => points.some((p) => p.reps !== null));
    if (!anyReps) $("progress-measure").value = "seconds"; // no rep counter ran yet
    const choice = $("progress-exercise");
    choice.replaceChildren(...Object.keys(progress).map((name) => el("option", name)));
    renderProgress();
    renderSessions(answer.sessions);
  } catch (err) {
    $("sessions").replaceChildren(el("li", "The history could not be read.", "empty"));
    showError(err.message);
  }
}

$("progress-exercise").addEventListener("change", renderProgress);
$("progress-measure").addEventListener("change", renderProgress);
load();
