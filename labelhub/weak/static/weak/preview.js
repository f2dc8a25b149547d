// Live statistics for the labeling-function editor in the admin console: as the manager edits the
// kind, class or config, the definition is posted (debounced) to the project's preview endpoint and
// the panel shows its coverage, conflicts, accuracy with its interval and items it gets wrong, on a
// sample. Session auth with the CSRF token; the endpoint answers only the project's managers.
(function () {
  "use strict";
  const DEBOUNCE_MS = 300;

  function percent(share) {
    return share === null || share === undefined ? "–" : (100 * share).toFixed(1) + " %";
  }

  function cell(row, label, value, name) {
    const th = document.createElement("th");
    th.textContent = label;
    const td = document.createElement("td");
    td.textContent = value; // text nodes only: nothing from the server is parsed as HTML
    td.dataset.stat = name;
    row.append(th, td);
  }

  function show(panel, payload) {
    const stats = payload.function;
    const table = document.createElement("table");
    const rows = [
      ["coverage", "Coverage", `${percent(stats.coverage)} (${stats.votes} of ${payload.sample.items} items)`],
      ["conflicts", "Conflicts with other functions", percent(stats.conflicts)],
      ["overlap", "Overlap with other functions", percent(stats.overlap)],
      [
        "accuracy",
        "Accuracy on gold / human labels",
        stats.accuracy === null
          ? `– (none of ${payload.sample.judged} judged items voted on)`
          : `${percent(stats.accuracy)} of ${stats.judged}, 95 % interval ` +
            `${percent(stats.accuracy_interval[0])}–${percent(stats.accuracy_interval[1])}`,
      ],
    ];
    if (payload.timeouts) rows.push(["timeouts", "Items the pattern gave up on", String(payload.timeouts)]);
    for (const [name, label, value] of rows) cell(table.insertRow(), label, value, name);
    const wrong = document.createElement("ul");
    wrong.className = "lf-wrong";
    for (const w of stats.wrong.slice(0, 5)) {
      const li = document.createElement("li");
      li.textContent = `item ${w.item}: voted ${w.voted}, answer ${w.answer}` + (w.text ? ` — “${w.text}”` : "");
      wrong.append(li);
    }
    const footer = document.createElement("p");
    footer.className = "help";
    footer.textContent = `Sample of ${payload.sample.items} items (${payload.sample.judged} with an answer), ${payload.seconds} s.`;
    const heading = document.createElement("p");
    heading.textContent = stats.wrong.length ? "Items it gets wrong:" : "No judged item wrong.";
    panel.replaceChildren(table, heading, wrong, footer);
    panel.dataset.state = "ready";
  }

  function message(panel, text, state) {
    const p = document.createElement("p");
    p.textContent = text;
    panel.replaceChildren(p);
    panel.dataset.state = state;
  }

  function attach(panel) {
    const form = panel.closest("form");
    const field = (name) => form.querySelector(`[name=${name}]`);
    const functionId = panel.dataset.function;
    let timer = null;
    let sequence = 0;

    async function refresh() {
      const mine = ++sequence;
      const project = field("project") && field("project").value;
      if (!project) return message(panel, "Choose a project to see statistics.", "idle");
      let config;
      try {
        config = JSON.parse(field("config").value || "{}");
      } catch (error) {
        return message(panel, "config: not valid JSON yet.", "invalid");
      }
      const body = { kind: field("kind").value, label: field("label").value, config };
      if (functionId) body["function"] = Number(functionId);
      panel.dataset.state = "loading";
      try {
        const response = await fetch(panel.dataset.previewUrl.replace(panel.dataset.projectPlaceholder, project), {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": form.querySelector("input[name=csrfmiddlewaretoken]").value },
          body: JSON.stringify(body),
        });
        if (mine !== sequence) return; // a newer edit already asked
        const payload = await response.json();
        if (response.ok) return show(panel, payload);
        message(panel, payload.field ? `${payload.field}: ${payload.detail}` : payload.detail, "invalid");
      } catch (error) {
        if (mine === sequence) message(panel, "Statistics unavailable (" + error + ").", "error");
      }
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    }
    for (const name of ["project", "kind", "label", "config"]) {
      const input = field(name);
      if (input) {
        input.addEventListener("input", later);
        input.addEventListener("change", later);
      }
    }
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".lf-live-preview[data-preview-url]").forEach(attach);
  });
})();
