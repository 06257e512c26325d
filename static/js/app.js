/* Sales Inbox: the small amount of JavaScript on top of htmx.
 * Dialogs and toasts, list selection, row quick actions, menus, the link picker's
 * arrow keys, and the keyboard shortcuts (j/k/o/x/e/#/u, / and ?).
 * Everything works without it through plain forms; this only makes it faster. */
(function () {
  "use strict";
  // Forms that save as they change hide their fallback Save button when this script runs.
  document.documentElement.classList.add("js");

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  // Matches inside root, and root itself (htmx:load hands over the swapped element).
  const within = (sel, root) => {
    const found = $$(sel, root);
    if (root && root.matches && root.matches(sel)) found.unshift(root);
    return found;
  };
  const TOAST_MS = 10000;

  // ---- dialogs -------------------------------------------------------------------------
  function openDialogs(root) {
    within("dialog[data-open]", root).forEach((dialog) => {
      dialog.removeAttribute("data-open");
      if (!dialog.open) dialog.showModal();
      const first = $("[autofocus]", dialog);
      if (first) first.focus();
      dialog.addEventListener("close", () => {
        if (dialog.closest("#dialog-slot")) dialog.remove();
      });
    });
  }

  function openHelp() {
    const help = $("#help");
    if (help && !help.open) help.showModal();
  }

  document.addEventListener("click", (event) => {
    const closer = event.target.closest("[data-close]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) dialog.close();
      return;
    }
    if (event.target.closest("[data-help]")) {
      openHelp();
      return;
    }
    // A click on the dimmed backdrop closes a modal, as people expect.
    if (event.target.tagName === "DIALOG" && event.target.open) {
      const box = event.target.getBoundingClientRect();
      const inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) event.target.close();
    }
  });

  // A form inside a dialog that went through: close the dialog.
  document.addEventListener("htmx:afterRequest", (event) => {
    const dialog = event.target.closest && event.target.closest("dialog");
    if (dialog && event.detail.successful && event.target.tagName === "FORM") dialog.close();
  });

  // A destructive form is sent once: a double click must not send a second POST.
  function holdForm(form) {
    if (form.dataset.sent) return false;
    form.dataset.sent = "1";
    $$("button[type=submit], button:not([type])", form).forEach((b) => { b.disabled = true; });
    return true;
  }
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.target.closest && event.target.closest("form[data-submit-once]");
    if (form && event.target === form && !holdForm(form)) event.preventDefault();
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.target.closest && event.target.closest("form[data-submit-once]");
    if (form && !event.detail.successful) {
      delete form.dataset.sent;
      $$("button", form).forEach((b) => { b.disabled = false; });
    }
  });
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-submit-once]");
    if (form && !form.hasAttribute("hx-post") && !holdForm(form)) event.preventDefault();
  });
  // A page restored from the back/forward cache may show mail deleted since: load it again.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted && document.body.matches(".page-list, .page-conversation")) window.location.reload();
  });

  // ---- toasts --------------------------------------------------------------------------
  const MAX_TOASTS = 3;
  function armToasts(root) {
    const all = $$("#toasts [data-toast]");
    all.slice(0, Math.max(0, all.length - MAX_TOASTS)).forEach((t) => t.remove());
    within("[data-toast]", root).forEach((toast) => {
      if (toast.dataset.armed) return;
      toast.dataset.armed = "1";
      let timer = null;
      const start = () => { timer = window.setTimeout(() => toast.remove(), TOAST_MS); };
      const stop = () => { if (timer) window.clearTimeout(timer); };
      toast.addEventListener("mouseenter", stop);
      toast.addEventListener("focusin", stop);
      toast.addEventListener("mouseleave", start);
      start();
    });
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-dismiss]");
    if (button) button.closest("[data-toast]")?.remove();
  });
  // Undo replaces its own toast.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.target.closest && event.target.closest(".toast-form");
    if (form) form.closest("[data-toast]")?.classList.add("is-leaving");
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.target.closest && event.target.closest(".toast-form");
    if (form && event.detail.successful) form.closest("[data-toast]")?.remove();
  });

  // A failed htmx request says why instead of doing nothing (400s carry a plain reason).
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    let text = "That did not work. Reload the page and try again.";
    const fromList = bulkForm() && event.detail.elt && !event.detail.elt.closest("#sidepanel");
    if (xhr.status === 404 && fromList) {
      // Rows the list still showed are gone (deleted by a teammate, or in the external
      // mailbox): say so and bring the list up to date instead of leaving stale rows.
      text = "Not found: deleted meanwhile (perhaps by a teammate). The list is now up to date.";
      htmx.ajax("GET", window.location.href, {
        source: document.body, target: "#list-region", select: "#list-region", swap: "outerHTML",
      });
    } else if (xhr.status === 404) text = "Not found: it may have been deleted, or it is not yours.";
    else if (xhr.status === 403) text = "You are not allowed to change this.";
    else if (xhr.status === 400 && xhr.responseText && xhr.responseText.length < 300) text = xhr.responseText;
    const toast = document.createElement("div");
    toast.className = "toast toast-error";
    toast.setAttribute("data-toast", "");
    const span = document.createElement("span");
    span.className = "toast-text";
    span.textContent = text;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("data-dismiss", "");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    toast.append(span, close);
    $("#toasts")?.append(toast);
    armToasts(toast);
    $("dialog[open]")?.close();
  });

  // ---- time zone: the browser's, for a user who has none yet --------------------------------
  function browserTimeZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }
  function offerTimeZone() {
    const zone = browserTimeZone();
    $$("input[data-browser-time-zone]").forEach((input) => { input.value = zone; });
    const url = document.body.dataset.timeZoneGuess;
    if (!url || !zone) return;
    const token = $("input[name=csrfmiddlewaretoken]")?.value ||
      JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
    // Saved for the next page; this one is not reloaded under the user's hands.
    const body = new URLSearchParams({ time_zone: zone, guess: "1" });
    fetch(url, { method: "POST", body, headers: { "X-CSRFToken": token }, credentials: "same-origin" });
  }

  // ---- the phone drawer: the sidebar behind the menu button --------------------------------
  const drawerOpen = () => document.body.classList.contains("drawer-open");
  function setDrawer(open, returnFocus) {
    const toggle = $("[data-drawer-toggle]");
    if (!toggle) return;
    document.body.classList.toggle("drawer-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      const first = $("#sidebar a[aria-current]") || $("#sidebar a");
      // The drawer slides in; focus once it is visible (a hidden link cannot take focus).
      window.requestAnimationFrame(() => first?.focus());
    } else if (returnFocus) toggle.focus();
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-drawer-toggle]")) setDrawer(!drawerOpen(), false);
    else if (event.target.closest("[data-drawer-close]")) setDrawer(false, true);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && drawerOpen()) {
      setDrawer(false, true);
      event.stopPropagation();
    }
  }, true);

  // ---- list selection ------------------------------------------------------------------
  const bulkForm = () => $("#bulk");
  const rows = () => $$("#rows > li.row");
  const boxes = () => $$("#rows input[name=ids]");
  const checkedIds = () => boxes().filter((b) => b.checked).map((b) => b.value);

  function syncSelection() {
    const form = bulkForm();
    if (!form) return;
    const all = boxes();
    const ids = checkedIds();
    const selectAll = $("#select-all");
    if (selectAll) {
      selectAll.checked = all.length > 0 && ids.length === all.length;
      selectAll.indeterminate = ids.length > 0 && ids.length < all.length;
    }
    const count = $("#selcount");
    if (count) count.textContent = ids.length ? `${ids.length} selected` : "Select";
    $$("[data-bulk] button", form).forEach((b) => { b.disabled = ids.length === 0; });
    form.classList.toggle("has-selection", ids.length > 0);
    // Every row shown is selected and more exist: offer the whole list ("Select all N").
    const banner = $("#select-all-banner");
    const allMatching = $("#all-matching");
    const everyRow = all.length > 0 && ids.length === all.length;
    if (allMatching && !everyRow) allMatching.value = "";
    if (banner) {
      banner.hidden = !(everyRow && ($("#more a") || allMatching?.value === "1"));
      const note = $("[data-select-note]", banner);
      const offer = $("[data-select-all-matching]", banner);
      const whole = allMatching?.value === "1";
      if (note) note.textContent = whole ? "Everything in this list is selected, not only the rows shown." : `All ${ids.length} conversations shown are selected.`;
      if (offer) offer.hidden = whole;
      if (count && whole) count.textContent = "All selected";
    }
    all.forEach((b) => b.closest("li.row")?.classList.toggle("is-selected", b.checked));
  }

  document.addEventListener("click", (event) => {
    if (!event.target.closest("[data-select-all-matching]")) return;
    const allMatching = $("#all-matching");
    if (allMatching) allMatching.value = "1";
    syncSelection();
  });

  document.addEventListener("change", (event) => {
    if (event.target.id === "select-all") {
      boxes().forEach((b) => { b.checked = event.target.checked; });
    }
    if (event.target.closest && event.target.closest("#bulk")) syncSelection();
  });

  function listState() {
    const form = bulkForm();
    const values = { origin: "list" };
    if (!form) return values;
    ["folder", "account", "q", "next", "all_matching"].forEach((name) => {
      const input = form.querySelector(`input[type=hidden][name=${name}]`);
      if (input && input.value) values[name] = input.value;
    });
    return values;
  }

  function act(action, ids) {
    if (!ids.length) return;
    const form = bulkForm();
    if (action === "delete") {
      htmx.ajax("GET", form.dataset.previewUrl || "/inbox/actions/delete-preview/", {
        source: document.body, target: "#dialog-slot", swap: "innerHTML",
        values: { ...listState(), ids: ids },
      });
      return;
    }
    htmx.ajax("POST", form.getAttribute("action"), {
      source: document.body, swap: "none", values: { ...listState(), action: action, ids: ids },
    });
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-row-action]");
    if (!button) return;
    event.preventDefault();
    const row = button.closest("li.row");
    setCurrent(rows().indexOf(row), false);
    act(button.dataset.rowAction, [row.dataset.id]);
  });

  // ---- the keyboard "cursor" row ------------------------------------------------------
  let current = -1;
  function setCurrent(index, focus = true) {
    const list = rows();
    if (!list.length) { current = -1; return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    list.forEach((row, i) => row.classList.toggle("is-current", i === current));
    const row = list[current];
    if (focus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }
  function currentRow() {
    const list = rows();
    const marked = list.findIndex((r) => r.classList.contains("is-current"));
    if (marked >= 0) current = marked;
    return marked >= 0 ? list[marked] : null;
  }
  // Ids a shortcut acts on: the selection, or else the row under the cursor.
  function targetIds() {
    const ids = checkedIds();
    if (ids.length) return ids;
    const row = currentRow();
    return row ? [row.dataset.id] : [];
  }

  // After rows leave, keep the cursor where it was; refill an emptied page.
  function afterListChange() {
    syncSelection();
    const list = rows();
    if (current >= 0 && list.length && !currentRow()) setCurrent(Math.min(current, list.length - 1));
    if (bulkForm() && !list.length && !$("#list-region .empty")) {
      const more = $("#more a");
      if (more) more.click();
      else htmx.ajax("GET", window.location.href, { source: document.body, target: "#list-region", select: "#list-region", swap: "outerHTML" });
    }
  }

  // ---- menus (History "⋯") ---------------------------------------------------------------
  function closeMenus(except) {
    $$("[data-menu] [aria-expanded=true]").forEach((button) => {
      if (button === except) return;
      button.setAttribute("aria-expanded", "false");
      document.getElementById(button.getAttribute("aria-controls"))?.setAttribute("hidden", "");
    });
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-menu] > button");
    if (!button) {
      if (!event.target.closest("[data-menu]")) closeMenus();
      else if (event.target.closest("[role=menuitem]")) closeMenus();
      return;
    }
    const pop = document.getElementById(button.getAttribute("aria-controls"));
    const open = button.getAttribute("aria-expanded") === "true";
    closeMenus(button);
    button.setAttribute("aria-expanded", String(!open));
    if (open) pop.setAttribute("hidden", "");
    else { pop.removeAttribute("hidden"); $("[role=menuitem]", pop)?.focus(); }
  });
  document.addEventListener("keydown", (event) => {
    const menu = event.target.closest && event.target.closest("[data-menu]");
    if (menu && event.key === "Escape") {
      const button = $(":scope > button", menu);
      closeMenus();
      button?.focus();
      event.stopPropagation();
    }
  }, true);

  // ---- link picker: arrows move between the input and the options ------------------------
  document.addEventListener("keydown", (event) => {
    const picker = event.target.closest && event.target.closest("[data-picker]");
    if (!picker || !["ArrowDown", "ArrowUp", "Escape"].includes(event.key)) return;
    const options = $$(".picker-option", picker);
    const input = $("input[type=search]", picker);
    const index = options.indexOf(event.target);
    if (event.key === "Escape") {
      if (event.target !== input) input.focus();
      else $("#picker-results", picker).innerHTML = "";
      event.preventDefault();
      return;
    }
    event.preventDefault();
    if (event.key === "ArrowDown") options[Math.min(index + 1, options.length - 1)]?.focus();
    if (event.key === "ArrowUp") (index <= 0 ? input : options[index - 1]).focus();
  });

  // ---- keyboard shortcuts ----------------------------------------------------------------
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }
  function clickShortcut(key) {
    const el = $(`[data-shortcut="${CSS.escape(key)}"]`);
    if (el) { el.click(); return true; }
    return false;
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    if ($("dialog[open]")) return; // a dialog owns the keyboard
    const key = event.key;
    if (typing(event.target)) {
      if (key === "Escape") event.target.blur();
      return;
    }
    if (event.target.closest("[data-menu], .toast")) return;
    const inList = Boolean(bulkForm());
    let handled = true;
    if (key === "/") {
      const search = $("#search-input");
      if (search) { search.focus(); search.select(); }
    } else if (key === "?") {
      openHelp();
    } else if (inList && (key === "j" || key === "k")) {
      const list = rows();
      if (!list.length) handled = false;
      else if (!currentRow()) setCurrent(0);
      else if (key === "j" && current === list.length - 1 && $("#more a")) $("#more a").click();
      else setCurrent(current + (key === "j" ? 1 : -1));
    } else if (inList && (key === "o" || (key === "Enter" && (event.target === document.body || event.target.matches("li.row"))))) {
      const row = currentRow();
      if (row) $(".row-link", row).click();
      else handled = false;
    } else if (inList && key === "x") {
      const row = currentRow() || (setCurrent(0), currentRow());
      const box = row && $("input[name=ids]", row);
      if (box) { box.checked = !box.checked; syncSelection(); }
    } else if (inList && key === "e") {
      const folder = bulkForm().dataset.folder;
      act(folder === "archive" ? "unarchive" : "archive", targetIds());
    } else if (inList && key === "#") {
      act("delete", targetIds());
    } else if (!inList && ["e", "#", "u", "j", "k", "r", "a", "f"].includes(key)) {
      handled = clickShortcut(key);
    } else if (key === "c") {
      handled = clickShortcut("c");
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  // ---- compose: formatting, autosave, recipient suggestions, send state ---------------------
  function setupCompose(form) {
    if (form.dataset.ready) return;
    form.dataset.ready = "1";
    const area = $("[data-editor-area]", form);
    const source = $("[data-editor-source]", form);
    const toolbar = $("[data-editor-toolbar]", form);
    const status = $("[data-autosave-status]", form);
    // With JavaScript the formatted editor replaces the plain HTML field it keeps in sync.
    area.hidden = false;
    toolbar.hidden = false;
    source.hidden = true;
    source.previousElementSibling.hidden = true;
    const sync = () => { source.value = area.innerHTML; };
    toolbar.addEventListener("click", (event) => {
      const button = event.target.closest("[data-format]");
      if (!button) return;
      const command = button.dataset.format;
      area.focus();
      if (command === "createLink") {
        const url = window.prompt("Link address (https://…)");
        if (url) document.execCommand("createLink", false, url);
      } else if (command === "formatBlock") {
        document.execCommand("formatBlock", false, "blockquote");
      } else {
        document.execCommand(command, false, null);
      }
      sync();
      changed();
    });
    let timer = null;
    let saving = Promise.resolve();
    const save = () => {
      sync();
      const body = new FormData(form);
      body.delete("quote");
      // Files and removals go with Send or Save draft (a form post), never with autosave.
      body.delete("files");
      body.delete("remove_file");
      saving = fetch(form.dataset.autosaveUrl, { method: "POST", body, credentials: "same-origin" })
        .then((response) => response.ok ? response.json() : Promise.reject(response))
        .then((data) => {
          $("[data-draft-id]", form).value = data.draft_id;
          if (status) status.textContent = "Draft saved";
        })
        .catch(() => { if (status) status.textContent = "Draft not saved yet"; });
      return saving;
    };
    const changed = () => {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(save, 800);
    };
    form.addEventListener("input", (event) => {
      if (event.target === area) sync();
      changed();
    });
    form.addEventListener("submit", () => {
      if (timer) window.clearTimeout(timer);
      sync();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        $("[data-send]", form).click();
      }
    });
    $$("[data-recipients]", form).forEach((input) => {
      const list = $(`[data-suggestions="${input.dataset.recipients}"]`, form);
      let pending = null;
      input.addEventListener("input", () => {
        if (pending) window.clearTimeout(pending);
        pending = window.setTimeout(() => {
          const url = `/inbox/compose/suggest/?field=${input.dataset.recipients}&q=${encodeURIComponent(input.value)}`;
          fetch(url, { credentials: "same-origin" }).then((r) => r.text()).then((html) => {
            list.innerHTML = html;
            list.hidden = !list.children.length;
          });
        }, 200);
      });
    });
    form.addEventListener("click", (event) => {
      const pick = event.target.closest("[data-add-recipient]");
      if (!pick) return;
      const input = $(`[data-recipients="${pick.dataset.field}"]`, form);
      const parts = input.value.split(/[,;]/);
      parts[parts.length - 1] = " " + pick.dataset.addRecipient;
      input.value = parts.join(",").replace(/^\s+/, "") + ", ";
      pick.closest("[data-suggestions]").hidden = true;
      input.focus();
      changed();
    });
  }

  function pollSendStates() {
    if (!$("[data-send-state=sending]")) return;
    window.setTimeout(() => {
      fetch(window.location.href, { credentials: "same-origin" }).then((r) => r.text()).then((html) => {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        $$(".msg").forEach((item) => {
          const other = fresh.getElementById(item.id);
          const mine = $("[data-send-line]", item);
          const theirs = other && $("[data-send-line]", other);
          if (mine && theirs && mine.innerHTML !== theirs.innerHTML) mine.innerHTML = theirs.innerHTML;
        });
        pollSendStates();
      });
    }, 2000);
  }

  // ---- wiring ------------------------------------------------------------------------------
  function init(root) {
    openDialogs(root);
    armToasts(root);
  }
  document.addEventListener("DOMContentLoaded", () => {
    init(document);
    $$("form[data-compose]").forEach(setupCompose);
    pollSendStates();
    offerTimeZone();
    // Back from a conversation (u): the cursor and focus are on the row it was opened from.
    const back = /^#conv-\d+$/.test(window.location.hash) && $(window.location.hash);
    if (back && back.matches("#rows > li.row")) setCurrent(rows().indexOf(back));
    syncSelection();
    const form = bulkForm();
    if (form) {
      const del = $("[data-action=delete]", form);
      if (del) form.dataset.previewUrl = del.getAttribute("hx-get");
    }
  });
  document.addEventListener("htmx:load", (event) => init(event.detail.elt));
  let pending = null;
  const listChanged = () => {
    if (!bulkForm() || pending) return;
    pending = window.setTimeout(() => { pending = null; afterListChange(); }, 0);
  };
  document.addEventListener("htmx:afterSettle", listChanged);
  document.addEventListener("htmx:afterRequest", listChanged);
  document.addEventListener("htmx:oobAfterSwap", (event) => {
    init(event.detail.target || document);
    listChanged();
  });
  // A freshly shown secret (the new API token) selects itself for copying. No inline
  // handlers anywhere: the Content-Security-Policy allows only our script files.
  document.addEventListener("focusin", (event) => {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });
})();
