// The ask form, streamed: the answer appears as POST /api/ask/stream sends it (meta, delta..., done).
// Without JavaScript, or when the stream does not start (a bad question, a rate limit, a busy server),
// the form posts as it always did and the page renders the whole answer or the error.
(function () {
  "use strict";
  var form = document.getElementById("ask-form");
  if (!form || !window.fetch || !window.TextDecoder || !window.ReadableStream) return;
  var BADGES = { hit: "HIT", "semantic-hit": "SEMANTIC-HIT" };

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    ask().catch(function () { form.submit(); });
  });

  async function ask() {
    var headers = { "Content-Type": "application/json", Accept: "text/event-stream" };
    if (form.elements.csrfmiddlewaretoken) headers["X-CSRFToken"] = form.elements.csrfmiddlewaretoken.value;
    var response = await fetch(form.dataset.streamUrl, {
      method: "POST", headers: headers, credentials: "same-origin",
      body: JSON.stringify({ question: form.elements.question.value }),
    });
    if (!response.ok || (response.headers.get("Content-Type") || "").indexOf("text/event-stream") !== 0) {
      form.submit();
      return;
    }
    var view = answerView();
    try {
      await readEvents(response.body, function (name, data) { if (view[name]) view[name](data); });
    } catch (failure) {
      view.error({ detail: "The connection was lost before the answer was complete; please ask again." });
    }
  }

  async function readEvents(body, handle) {
    var reader = body.getReader(), decoder = new TextDecoder(), buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      for (var end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        dispatch(buffer.slice(0, end), handle);
        buffer = buffer.slice(end + 2);
      }
    }
  }

  function dispatch(block, handle) {
    var name = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) name = line.slice(7);
      else if (line.indexOf("data: ") === 0) data += line.slice(6);
    });
    if (data) handle(name, JSON.parse(data));
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // The same parts as the page's own answer (qa/home.html), built as the events come.
  function answerView() {
    var section = element("section", { class: "card", id: "answer", "aria-live": "polite", "data-state": "streaming" });
    var badges = element("p"), text = element("div", { class: "answer-text" }), rest = element("div");
    section.append(badges, text, rest);
    var previous = document.getElementById("answer");
    if (previous) previous.replaceWith(section); else form.after(section);
    return {
      meta: function (data) {
        var response = data.cache.response;
        badges.append(element("span", { class: "badge " + response, id: "x-cache" }, BADGES[response] || "MISS"));
        if (data.cache.similarity) badges.append(" ", element("span", { class: "muted" }, "similarity " + data.cache.similarity));
        var sources = element("ol");
        data.sources.forEach(function (source) {
          var href = form.dataset.documentUrl.replace("SLUG", encodeURIComponent(source.document)) + "#chunk-" + source.chunk_id;
          var item = element("li");
          item.append(element("a", { href: href }, source.title), " ",
            element("span", { class: "muted" }, "chunk " + source.chunk_id + " · score " + source.score.toFixed(3)));
          sources.append(item);
        });
        rest.append(element("h2", {}, "Sources"), sources);
      },
      delta: function (data) { text.textContent += data.text; },
      done: function (data) {
        var table = element("table"), head = element("tr");
        head.append(element("th", {}, "stage"), element("th", {}, "ms"));
        table.append(head);
        Object.keys(data.timings_ms).forEach(function (stage) {
          var row = element("tr");
          row.append(element("td", {}, stage), element("td", {}, data.timings_ms[stage].toFixed(1)));
          table.append(row);
        });
        rest.append(element("h2", {}, "Timings"), table);
        section.dataset.state = "done";
      },
      error: function (data) {
        rest.append(element("p", { class: "error" }, data.detail));
        section.dataset.state = "error";
      },
    };
  }
})();
