// A stand-in for Alertmanager's Elm UI, which Debian does not ship: served by the real
// Alertmanager from --web.ui-path, it talks to the v2 API by relative URLs as the real UI does,
// so under a proxy every request goes to <prefix>/api/v2/...
"use strict";

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function api(path, init) {
  const r = await fetch("api/v2/" + path, init);
  if (!r.ok) throw new Error(`${init?.method ?? "GET"} api/v2/${path}: HTTP ${r.status}`);
  return r.status === 204 ? null : await r.json();
}

function showError(e) {
  const p = document.getElementById("error");
  p.textContent = String(e);
  p.hidden = false;
}

async function silence(alert) {
  const now = Date.now();
  await api("silences", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      matchers: [{
        name: "alertname",
        value: alert.labels.alertname,
        isRegex: false,
        isEqual: true,
      }],
      startsAt: new Date(now).toISOString(),
      endsAt: new Date(now + 3600_000).toISOString(),
      createdBy: "promgate-ui-test",
      comment: "silenced from the browser",
    }),
  });
  await load();
}

async function load() {
  const status = await api("status");
  const { versionInfo, cluster, uptime } = status;
  document.getElementById("status").textContent =
    `version ${versionInfo.version}, cluster ${cluster.status}, up since ${uptime}`;

  const alerts = await api("alerts");
  const alertRows = document.querySelector("#alerts tbody");
  alertRows.replaceChildren();
  for (const alert of alerts) {
    const tr = document.createElement("tr");
    tr.className = "alert";
    const labels = Object.entries(alert.labels).map(([k, v]) => `${k}="${v}"`).join(", ");
    tr.append(cell(alert.labels.alertname), cell(labels), cell(alert.status.state));
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.textContent = "Silence";
    button.addEventListener("click", () => silence(alert).catch(showError));
    td.append(button);
    tr.append(td);
    alertRows.append(tr);
  }

  const silences = await api("silences");
  const silenceRows = document.querySelector("#silences tbody");
  silenceRows.replaceChildren();
  for (const s of silences) {
    const tr = document.createElement("tr");
    tr.className = "silence";
    const matchers = s.matchers.map((m) => `${m.name}${m.isEqual ? "=" : "!="}"${m.value}"`);
    tr.append(
      cell(s.id),
      cell(matchers.join(", ")),
      cell(s.status.state),
      cell(s.createdBy),
      cell(s.comment),
    );
    silenceRows.append(tr);
  }
  document.body.dataset.loaded = String(Date.now());
}

load().catch(showError);
