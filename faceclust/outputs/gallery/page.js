// The gallery's editing: name, merge, take out, not a face, ignore; undo; save corrections.json.
// Every change is a correction in the file's format (faceclust/clustering/corrections.py documents it);
// the page shows the run's groups with its corrections replayed in order, as the next run of
// cluster_faces.py --corrections will. User text enters the page only through textContent
// and input values, never as HTML.
"use strict";
(() => {
  const data = JSON.parse(document.getElementById("gallery-data").textContent);
  const STORE = "faceclust-corrections:" + data.run;
  const THUMB = 96;
  const POOL_SECTIONS = { unknown: "unknown", ignored: "ignored-people", not_a_face: "not-faces" };
  const keyOf = (face) => face.image_path + "\n" + face.box.join(",") + (face.time == null ? "" : "\n" + face.time);
  // A face in a video: the video's name and the second it is seen at ("clip.mp4 at 0:12.5").
  const clock = (seconds) => Math.floor(seconds / 60) + ":" + (seconds % 60 < 10 ? "0" : "") + +(seconds % 60).toFixed(1);
  const where = (face) => face.time == null ? face.image_path : face.image_path + " at " + clock(face.time);
  const opens = (face) => face.time == null ? "photo" : "video " + clock(face.time);
  const record = (face) => face.time == null ? { image_path: face.image_path, box: face.box }
    : { image_path: face.image_path, box: face.box, time: face.time };

  // Every face the page shows, by key: its record as the file names it, and its element.
  const faces = new Map();
  const elements = new Map();
  const sections = new Map();
  const selected = new Set();
  let history = loadHistory(); // one entry per user action, each a list of corrections
  let state = null;
  let message = "";

  function loadHistory() {
    try {
      const stored = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(stored) ? stored : [];
    } catch (error) {
      message = "changes are not kept across reloads in this browser (" + error.name + ")";
      return [];
    }
  }

  function storeHistory() {
    try {
      localStorage.setItem(STORE, JSON.stringify(history));
    } catch (error) {
      message = "changes could not be kept in this browser (" + error.name + "): save them";
    }
  }

  function register(list, extra) {
    for (const face of list) faces.set(keyOf(face), Object.assign({}, face, extra || {}));
    return list.map(keyOf);
  }

  // The run as written: groups (people), and the pools of faces that are no group.
  function initialState() {
    const groups = new Map();
    const where = new Map();
    const add = (group) => {
      groups.set(group.id, group);
      for (const key of group.keys) where.set(key, group.id);
    };
    data.groups.forEach((group, order) =>
      add({
        id: "g" + group.id, kind: "person", label: group.id, order, name: group.name || "",
        keys: register(group.faces), hidden: group.size - group.faces.length,
        montage: group.montage, changed: false,
      }));
    const pool = (id, title, part) =>
      add({ id, kind: id, order: 0, name: "", title, keys: register(part.faces), hidden: part.size - part.faces.length,
            montage: part.montage || null, changed: false });
    pool("unknown", "Unknown faces", data.unknown);
    pool("ignored", "Ignored people", data.left_out.ignored);
    pool("not_a_face", "Not faces", data.left_out.not_a_face);
    return { groups, where, created: 0 };
  }

  const size = (group) => group.keys.length + group.hidden;
  const isPool = (group) => group.kind !== "person";

  function take(key) {
    const group = state.groups.get(state.where.get(key));
    group.keys.splice(group.keys.indexOf(key), 1);
    group.changed = true;
    return group;
  }

  function put(key, group) {
    group.keys.push(key);
    group.changed = true;
    state.where.set(key, group.id);
  }

  // The faces' groups become one, with every pool face among them: "these are one person".
  function unite(keys) {
    const people = [];
    for (const key of keys) {
      const group = state.groups.get(state.where.get(key));
      if (!isPool(group) && !people.includes(group)) people.push(group);
    }
    let target = people[0];
    if (!target) {
      state.created += 1;
      target = { id: "new" + state.created, kind: "person", label: null, order: 1e9 + state.created,
                 name: "", keys: [], hidden: 0, montage: null, changed: true };
      state.groups.set(target.id, target);
    }
    for (const other of people.slice(1)) {
      for (const key of other.keys) put(key, target);
      target.hidden += other.hidden;
      if (!target.name) target.name = other.name;
      if (other.ignored) target.ignored = true;
      state.groups.delete(other.id);
    }
    for (const key of keys) {
      if (isPool(state.groups.get(state.where.get(key)))) {
        take(key);
        put(key, target);
      }
    }
    target.changed = true;
    return target;
  }

  function apply(correction) {
    const keys = correction.faces.map(keyOf).filter((key) => state.where.has(key));
    if (!keys.length) return;
    const action = correction.action;
    if (action === "name" || action === "merge" || action === "ignore") {
      const group = unite(keys);
      if (typeof correction.name === "string") group.name = correction.name.trim();
      if (action === "ignore") group.ignored = true;
    } else if (action === "move") {
      const to = (correction.to || []).map(keyOf).find((key) => state.where.has(key));
      for (const key of keys) {
        take(key);
        put(key, state.groups.get(to ? state.where.get(to) : "unknown"));
      }
    } else if (action === "not_a_face") {
      for (const key of keys) {
        take(key);
        put(key, state.groups.get("not_a_face"));
      }
    }
    // "apart" changes no group here: the next run keeps those faces out of one group.
  }

  // One name, one person, as the next run will have it: groups given the same name are one.
  function uniteSameNames() {
    const byName = new Map();
    for (const group of [...state.groups.values()]) {
      if (group.kind !== "person" || !group.name) continue;
      const first = byName.get(group.name);
      if (!first) {
        byName.set(group.name, group);
        continue;
      }
      for (const key of group.keys) put(key, first);
      first.hidden += group.hidden;
      if (group.ignored) first.ignored = true;
      state.groups.delete(group.id);
    }
  }

  function rebuild() {
    state = initialState();
    for (const step of history) for (const correction of step) apply(correction);
    uniteSameNames();
    for (const key of [...selected]) if (!state.where.has(key)) selected.delete(key);
    render();
  }

  const faceRecords = (keys) => keys.map((key) => record(faces.get(key)));

  function commit(step, note) {
    if (!step.length) return;
    history.push(step);
    storeHistory();
    selected.clear();
    message = note || "";
    rebuild();
  }

  // ---- what the buttons do -------------------------------------------------------------

  function selectionByGroup() {
    const byGroup = new Map();
    for (const key of selected) {
      const group = state.groups.get(state.where.get(key));
      if (!byGroup.has(group)) byGroup.set(group, []);
      byGroup.get(group).push(key);
    }
    return byGroup;
  }

  function mergeSelected() {
    const byGroup = selectionByGroup();
    const people = [...byGroup.keys()].filter((group) => !isPool(group)).sort((a, b) => size(b) - size(a));
    const loose = [...byGroup.entries()].filter(([group]) => isPool(group)).flatMap(([, keys]) => keys);
    if (people.length + loose.length < 2) {
      message = "select faces of two groups or more to merge";
      render();
      return;
    }
    const keys = people.flatMap((group) => group.keys).concat(loose);
    const correction = { action: "merge", faces: faceRecords(keys) };
    const names = [...new Set(people.map((group) => group.name).filter(Boolean))];
    if (names.length) correction.name = names[0];
    commit([correction], names.length > 1 ? "merged people named " + names.join(" and ") + ": kept " + names[0] : "");
  }

  function moveSelected(targetId) {
    const target = targetId ? state.groups.get(targetId) : null;
    const step = [];
    for (const [group, keys] of selectionByGroup()) {
      if (target && group === target) continue;
      const correction = { action: "move", faces: faceRecords(keys),
                           from: isPool(group) ? [] : faceRecords(group.keys.filter((key) => !keys.includes(key))) };
      if (target) correction.to = faceRecords(target.keys);
      step.push(correction);
    }
    commit(step);
  }

  function notFaces() {
    if (selected.size) commit([{ action: "not_a_face", faces: faceRecords([...selected]) }]);
  }

  function ignoreGroups(groups) {
    commit(groups.filter((group) => !isPool(group) && group.keys.length)
      .map((group) => ({ action: "ignore", faces: faceRecords(group.keys) })));
  }

  function nameGroup(group, name) {
    name = name.trim();
    if (name === group.name || !group.keys.length) return;
    commit([{ action: "name", faces: faceRecords(group.keys), name }]);
  }

  function undo() {
    if (!history.length) return;
    history.pop();
    storeHistory();
    message = "undone";
    rebuild();
  }

  function save() {
    const corrections = data.earlier.concat(history.flat());
    const text = JSON.stringify({ format: "faceclust-corrections", version: 1, corrections }, null, 1) + "\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.download = "corrections.json";
    document.body.append(link);
    link.click();
    link.remove();
    message = "saved corrections.json: run cluster_faces.py --corrections corrections.json to apply it";
    render();
  }

  // ---- questions: "same person?", best first ---------------------------------------------
  // Each answer is a step of corrections the run wrote beside its question, so an answer
  // undoes and saves like any other change, and a question whose answer is in the history
  // counts as answered (also after a reload).
  let asking = false;
  let asked = 0; // the question on screen
  const skipped = new Set();

  function answeredQuestions() {
    const steps = new Set(history.map((step) => JSON.stringify(step)));
    return new Set(data.questions
      .map((question, index) => [question, index])
      .filter(([question]) => steps.has(JSON.stringify(question.if_same)) || steps.has(JSON.stringify(question.if_different)))
      .map(([, index]) => index));
  }

  function nextQuestion(from) {
    const answered = answeredQuestions();
    for (let index = from; index < data.questions.length; index += 1) {
      if (!answered.has(index) && !skipped.has(index)) return index;
    }
    return -1;
  }

  function openQuestions(open) {
    asking = open;
    if (open) asked = nextQuestion(0);
    renderQuestion();
  }

  function answer(same) {
    const question = data.questions[asked];
    if (!question) return;
    const at = asked;
    commit(same ? question.if_same : question.if_different,
      same ? "answered: the same person" : "answered: not the same person");
    asked = nextQuestion(at + 1);
    renderQuestion();
  }

  function skipQuestion() {
    if (asked < 0) return;
    skipped.add(asked);
    asked = nextQuestion(asked + 1);
    renderQuestion();
  }

  function questionFaces(list) {
    return element("div", { className: "side" }, ...list.map((face) => {
      const item = element("figure", {});
      item.append(face.thumb
        ? element("img", { src: face.thumb, alt: "face in " + where(face), width: 128, height: 128 })
        : element("span", { className: "missing", textContent: "photo missing" }));
      if (face.href) item.append(element("a", { href: face.href, textContent: opens(face) }));
      return item;
    }));
  }

  function renderQuestion() {
    const panel = document.getElementById("ask");
    const answered = answeredQuestions().size;
    const total = data.questions.length;
    document.getElementById("questions").textContent = "Questions (" + answered + " of " + total + ")";
    panel.hidden = !asking;
    if (!asking) return;
    const question = data.questions[asked];
    const button = (id, text, key, handler) => {
      const node = element("button", { id, type: "button", textContent: text + " " }, element("kbd", { textContent: key }));
      node.addEventListener("click", handler);
      return node;
    };
    const progress = element("p", { className: "progress",
      textContent: answered + " of " + total + " answered" + (skipped.size ? ", " + skipped.size + " skipped" : "") });
    if (!question) {
      panel.replaceChildren(progress, element("p", { textContent: "No more questions in this run. Save the corrections and run again for more." }),
        button("ask-close", "Close", "q", () => openQuestions(false)));
      return;
    }
    panel.replaceChildren(
      progress,
      element("h2", { textContent: "Same person?" }),
      element("p", { className: "why", textContent: "Asked because of " + question.why + "." }),
      questionFaces(question.a),
      element("p", { className: "versus", textContent: "and" }),
      questionFaces(question.b),
      element("div", { className: "answers" },
        button("ask-same", "Same person", "y", () => answer(true)),
        button("ask-different", "Different people", "n", () => answer(false)),
        button("ask-skip", "Skip", "k", skipQuestion),
        button("ask-close", "Close", "q", () => openQuestions(false))));
  }

  // ---- drawing -------------------------------------------------------------------------

  function element(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    node.append(...children);
    return node;
  }

  function faceElement(key) {
    if (elements.has(key)) return elements.get(key);
    const face = faces.get(key);
    const node = element("div", { className: "face", tabIndex: 0, title: where(face) });
    node.setAttribute("role", "checkbox");
    node.dataset.key = key;
    if (face.thumb) {
      node.append(element("img", { src: face.thumb, alt: "face in " + where(face), loading: "lazy",
                                   width: THUMB, height: THUMB }));
    } else {
      node.append(element("span", { className: "missing", textContent: "photo missing" }));
    }
    if (face.href) node.append(element("a", { className: "open", href: face.href, textContent: opens(face),
                                              title: "open the " + (face.time == null ? "photo" : "video at this second") + " (o)" }));
    elements.set(key, node);
    return node;
  }

  function groupTitle(group) {
    if (isPool(group)) return group.title;
    return group.label === null ? "New group" : "Face ID #" + group.label;
  }

  function sectionFor(group) {
    let section = sections.get(group.id);
    if (!section) {
      const name = element("input", { className: "name", placeholder: "Name this person", type: "text" });
      name.setAttribute("aria-label", "name of this person");
      name.addEventListener("change", () => nameGroup(state.groups.get(section.dataset.group), name.value));
      name.addEventListener("keydown", (event) => {
        if (event.key === "Enter") name.blur();
        if (event.key === "Escape") { name.value = state.groups.get(section.dataset.group).name; name.blur(); }
      });
      const selectAll = element("button", { className: "select-all", textContent: "Select all", type: "button" });
      selectAll.addEventListener("click", () => {
        const keys = state.groups.get(section.dataset.group).keys;
        const all = keys.every((key) => selected.has(key));
        for (const key of keys) all ? selected.delete(key) : selected.add(key);
        renderSelection();
      });
      const ignore = element("button", { className: "ignore", textContent: "Ignore person", type: "button" });
      ignore.addEventListener("click", () => ignoreGroups([state.groups.get(section.dataset.group)]));
      section = element("section", {},
        element("h2", {}, name, element("span", { className: "title" }), element("span", { className: "count" }),
                selectAll, ignore, element("a", { className: "montage", textContent: "montage" })),
        element("div", { className: "faces" }),
        element("div", { className: "more" }));
      sections.set(group.id, section);
    }
    section.dataset.group = group.id;
    section.id = group.kind === "person" ? (group.label === null ? group.id : "face-" + group.label) : POOL_SECTIONS[group.id];
    const pool = isPool(group);
    const name = section.querySelector("input.name");
    name.hidden = pool;
    name.disabled = !group.keys.length;
    if (document.activeElement !== name) name.value = group.name;
    section.querySelector(".title").textContent = pool || !group.name ? groupTitle(group) : "(" + groupTitle(group) + ")";
    const count = size(group);
    section.querySelector(".count").textContent = "(" + count.toLocaleString() + (count === 1 ? " face)" : " faces)");
    section.querySelector(".ignore").hidden = pool || group.ignored;
    section.classList.toggle("changed", group.changed && !pool);
    section.classList.toggle("left-out", group.kind === "ignored" || group.kind === "not_a_face" || !!group.ignored);
    // The montage JPEG shows the group as the run wrote it: offered only while it still is.
    const montage = section.querySelector(".montage");
    montage.hidden = !group.montage || group.changed;
    if (group.montage) montage.href = group.montage;
    // Re-attaching thousands of faces costs a style pass over all of them: only on a change.
    const signature = group.keys.join("\t");
    if (section.signature !== signature) {
      section.querySelector(".faces").replaceChildren(...group.keys.map(faceElement));
      section.signature = signature;
    }
    section.querySelector(".more").textContent = group.hidden > 0
      ? "and " + group.hidden.toLocaleString() + " more (clusters.csv lists every face)" : "";
    return section;
  }

  function render() {
    const groups = [...state.groups.values()];
    const people = groups.filter((g) => g.kind === "person" && !g.ignored && size(g) > 0)
      .sort((a, b) => size(b) - size(a) || a.order - b.order);
    const leftOut = groups.filter((g) => (g.kind === "person" && g.ignored) || g.kind === "ignored" || g.kind === "not_a_face")
      .filter((g) => size(g) > 0);
    const unknown = state.groups.get("unknown");
    const shown = [...people, ...(size(unknown) ? [unknown] : []), ...leftOut];
    const built = shown.map(sectionFor);
    const main = document.getElementById("groups");
    if (built.length !== main.children.length || built.some((section, index) => main.children[index] !== section)) {
      main.replaceChildren(...built);
    }

    const named = people.filter((g) => g.name).length;
    document.getElementById("counts").textContent =
      people.length + " people (" + named + " named), " + size(unknown).toLocaleString() +
      (size(unknown) === 1 ? " face" : " faces") + " not placed with anyone";
    document.getElementById("nav").replaceChildren(...shown.map((group, index) =>
      element("a", { href: "#" + built[index].id,
                     textContent: (group.name || groupTitle(group)) + " (" + size(group) + ")" })));
    const target = document.getElementById("move-target");
    const current = target.value;
    target.replaceChildren(element("option", { value: "", textContent: "Unknown" }),
      ...people.map((group) => element("option", { value: group.id, textContent: group.name || groupTitle(group) })));
    if ([...target.options].some((option) => option.value === current)) target.value = current;
    renderSelection();
    renderQuestion();
  }

  function renderSelection() {
    for (const [key, node] of elements) {
      const mark = selected.has(key) ? "true" : "false";
      if (node.getAttribute("aria-checked") !== mark) node.setAttribute("aria-checked", mark);
    }
    renderToolbar();
  }

  // The status line and which buttons apply: all that a change of selection alters.
  function renderToolbar() {
    const changes = history.length;
    const status = document.getElementById("status");
    const earlier = data.earlier.length ? ", " + data.earlier.length + " earlier corrections kept" : "";
    status.textContent = selected.size + " selected · " + changes + (changes === 1 ? " change" : " changes") + earlier +
      (message ? " · " + message : "");
    status.classList.toggle("warn", message.includes("not kept") || message.includes("could not"));
    document.getElementById("undo").disabled = !changes;
    document.getElementById("save").disabled = !changes && !data.earlier.length;
    for (const id of ["merge", "take-out", "move", "not-a-face", "ignore-selected"]) {
      document.getElementById(id).disabled = !selected.size;
    }
  }

  // ---- input ---------------------------------------------------------------------------

  function toggle(node) {
    const key = node.dataset.key;
    selected.has(key) ? selected.delete(key) : selected.add(key);
    node.setAttribute("aria-checked", selected.has(key) ? "true" : "false");
    renderToolbar();
  }

  document.getElementById("groups").addEventListener("click", (event) => {
    const node = event.target.closest(".face");
    if (!node || event.target.closest("a")) return;
    toggle(node);
  });

  function neighbour(node, step) {
    const all = [...document.querySelectorAll(".face")];
    return all[all.indexOf(node) + step];
  }

  const on = (id, handler) => document.getElementById(id).addEventListener("click", handler);
  on("merge", mergeSelected);
  on("take-out", () => moveSelected(null));
  on("move", () => moveSelected(document.getElementById("move-target").value || null));
  on("not-a-face", notFaces);
  on("ignore-selected", () => ignoreGroups([...selectionByGroup().keys()]));
  on("undo", undo);
  on("save", save);
  on("questions", () => openQuestions(!asking));

  document.addEventListener("keydown", (event) => {
    const typing = event.target.matches("input, select, textarea");
    if ((event.ctrlKey || event.metaKey) && event.key === "z" && !typing) { event.preventDefault(); undo(); return; }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (asking) {
      const answers = { y: () => answer(true), n: () => answer(false), k: skipQuestion, ArrowRight: skipQuestion,
                        q: () => openQuestions(false), Escape: () => openQuestions(false), u: undo };
      if (answers[event.key]) { event.preventDefault(); answers[event.key](); }
      return;
    }
    if (event.key === "q") { event.preventDefault(); openQuestions(true); return; }
    const face = event.target.closest && event.target.closest(".face");
    const keys = {
      m: mergeSelected, x: () => moveSelected(null), d: notFaces, u: undo, s: save,
      i: () => ignoreGroups([...selectionByGroup().keys()]),
      Escape: () => { selected.clear(); message = ""; renderSelection(); },
    };
    if (face && (event.key === " " || event.key === "Enter")) { event.preventDefault(); toggle(face); return; }
    if (face && (event.key === "ArrowRight" || event.key === "ArrowLeft")) {
      const next = neighbour(face, event.key === "ArrowRight" ? 1 : -1);
      if (next) { event.preventDefault(); next.focus(); }
      return;
    }
    if (face && event.key === "o") { const link = face.querySelector("a"); if (link) link.click(); return; }
    if (face && event.key === "n") {
      event.preventDefault();
      face.closest("section").querySelector("input.name").focus();
      return;
    }
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });

  // Whatever scrolls into view (a face reached by keyboard, a group from the list) lands below
  // the sticky header, not under it.
  new ResizeObserver(([entry]) => {
    document.documentElement.style.scrollPaddingTop = entry.target.offsetHeight + 8 + "px";
  }).observe(document.querySelector("header"));

  rebuild();

  // With #check in the address, load every image now and record which failed, for the tests.
  if (location.hash === "#check") {
    const images = [...document.images];
    images.forEach((image) => { image.loading = "eager"; });
    Promise.all(images.map((image) => new Promise((resolve) => {
      if (image.complete) { resolve(); return; }
      image.addEventListener("load", resolve);
      image.addEventListener("error", resolve);
    }))).then(() => {
      const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute("src"));
      document.body.dataset.check = JSON.stringify({ images: images.length, broken });
    });
  }
})();
