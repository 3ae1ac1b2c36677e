// kiln ui's one script, over server-sent events: the live log of a running build (every line is
// added as text, textContent, never as HTML) and a deployment in progress (its part of the page,
// rendered and escaped by the server like every page, put in place of the old one). Pages work
// without it; they just do not update.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var deployment = document.querySelector("[data-live]");
  if (deployment && window.EventSource) {
    var updates = new EventSource(deployment.getAttribute("data-live"));
    updates.addEventListener("page", function (e) {
      deployment.innerHTML = e.data;
    });
    updates.addEventListener("end", function () {
      updates.close();
      deployment.removeAttribute("data-live");
    });
  }
  var live = document.querySelector("[data-events]");
  if (!live || !window.EventSource) return;
  var logs = document.getElementById("logs-list");
  var source = new EventSource(live.getAttribute("data-events"));

  function phaseLog(phase) {
    var pres = document.querySelectorAll("pre.log");
    for (var i = 0; i < pres.length; i++) {
      if (pres[i].getAttribute("data-phase") === phase) return pres[i];
    }
    var details = document.createElement("details");
    details.className = "log";
    details.open = true;
    var summary = document.createElement("summary");
    var name = document.createElement("span");
    name.className = "grow";
    name.textContent = phase;
    summary.appendChild(name);
    details.appendChild(summary);
    var pre = document.createElement("pre");
    pre.className = "log";
    pre.setAttribute("data-phase", phase);
    details.appendChild(pre);
    if (logs) logs.appendChild(details);
    return pre;
  }

  source.addEventListener("line", function (e) {
    var d = JSON.parse(e.data);
    var pre = phaseLog(d.phase);
    var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    var line = document.createElement("span");
    line.className = d.kiln ? "l k" : "l";
    line.textContent = d.text;
    pre.appendChild(line);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("status", function (e) {
    var d = JSON.parse(e.data);
    var el = document.getElementById("live-phase");
    if (el) el.textContent = d.phase;
  });
  source.addEventListener("end", function () {
    source.close();
    window.location.reload();
  });
});
