/* A1111's page globals and page life cycle, for extension scripts written against AUTOMATIC1111's WebUI.

   This file runs first among the page's scripts (the server puts it at the top of the HTML head, before the
   extensions' javascript/*.js), so extension code finds `gradioApp`, `onUiLoaded`, `onUiUpdate`,
   `onAfterUiUpdate`, `onUiTabChange`, `onOptionsChanged`, `opts`, `titles`, `updateInput`, `submit`, `popup`
   ... the way A1111 1.10 defines them. Life cycle, as A1111's: DOMContentLoaded -> a MutationObserver on the
   app; every DOM change runs the onUiUpdate callbacks, 200 ms of quiet runs onAfterUiUpdate; the first time
   `#txt2img_prompt` exists, onUiLoaded; on the first quiet moment `opts` is announced (onOptionsAvailable,
   onOptionsChanged), and again after Settings are applied. Written for this project; no A1111 code. */

/* global opts:true, titles:true */
/* eslint-disable no-unused-vars, no-var */

var opts = window.opts || {};
var titles = window.titles || {};
var uiCurrentTab = null;
var uiUpdateCallbacks = [];
var uiAfterUpdateCallbacks = [];
var uiLoadedCallbacks = [];
var uiTabChangeCallbacks = [];
var optionsChangedCallbacks = [];
var optionsAvailableCallbacks = [];

function gradioApp() {
    const app = document.getElementsByTagName("gradio-app")[0];
    if (!app) return document;
    if (!app.getElementById) app.getElementById = (id) => document.getElementById(id);
    return app.shadowRoot || app;
}

function get_uiCurrentTab() {
    return gradioApp().querySelector("#tabs button[role=tab].selected");
}

function get_uiCurrentTabContent() {
    return Array.from(gradioApp().querySelectorAll("#tabs > .tabitem[id^=tab_]")).find(
        (tab) => tab.style.display !== "none" && tab.offsetParent !== null
    ) || null;
}

function onUiUpdate(callback) { uiUpdateCallbacks.push(callback); }
function onAfterUiUpdate(callback) { uiAfterUpdateCallbacks.push(callback); }
function onUiLoaded(callback) {
    if (window.__webuiUiLoaded) setTimeout(() => executeCallbacks([callback]), 0);
    else uiLoadedCallbacks.push(callback);
}
function onUiTabChange(callback) { uiTabChangeCallbacks.push(callback); }
function onOptionsChanged(callback) { optionsChangedCallbacks.push(callback); }
function onOptionsAvailable(callback) {
    if (window.__webuiOptionsAnnounced) setTimeout(() => executeCallbacks([callback]), 0);
    else optionsAvailableCallbacks.push(callback);
}

function executeCallbacks(queue, arg) {
    for (const callback of queue) {
        try {
            callback(arg);
        } catch (error) {
            console.error("error running callback", callback, ":", error);
        }
    }
}

function uiElementIsVisible(element) {
    if (element === document) return true;
    const style = window.getComputedStyle(element);
    if (style.display === "none" || style.visibility === "hidden") return false;
    return element.parentNode ? uiElementIsVisible(element.parentNode) : true;
}

function uiElementInSight(element) {
    const rect = element.getBoundingClientRect();
    return rect.top < window.innerHeight && rect.bottom > 0;
}

/* Tell Gradio a script changed an input's value (A1111's updateInput). */
function updateInput(target) {
    const event = new Event("input", {bubbles: true});
    Object.defineProperty(event, "target", {value: target});
    target.dispatchEvent(event);
}

function randomId() {
    return "task(" + Math.random().toString(36).slice(2, 9) + Math.random().toString(36).slice(2, 9) + ")";
}

function args_to_array(args) {
    return Array.from(args);
}

/* A1111's `_js="submit"` helpers: the arguments back as an array (the generate buttons here need no task id). */
function create_submit_args(args) { return Array.from(args); }
function submit() { return create_submit_args(arguments); }
function submit_img2img() { return create_submit_args(arguments); }
function submit_extras() { return create_submit_args(arguments); }

function get_tab_index(tabId) {
    const buttons = Array.from(gradioApp().querySelectorAll("#" + tabId + " button[role=tab]"));
    return Math.max(0, buttons.findIndex((button) => button.classList.contains("selected")));
}

function all_gallery_buttons() {
    const tab = get_uiCurrentTabContent() || gradioApp();
    return Array.from(tab.querySelectorAll("[id$=_gallery] .thumbnail-item, [id$=_gallery] button.thumbnail-item"));
}

function selected_gallery_button() {
    return all_gallery_buttons().find((button) => button.classList.contains("selected")) || null;
}

function selected_gallery_index() {
    return all_gallery_buttons().findIndex((button) => button.classList.contains("selected"));
}

function extract_image_from_gallery(gallery) {
    if (!gallery || gallery.length === 0) return [null];
    if (gallery.length === 1) return [gallery[0]];
    const index = selected_gallery_index();
    return [gallery[index >= 0 && index < gallery.length ? index : 0]];
}

function switchToTab(id) {
    const button = gradioApp().querySelector("#tab_" + id + "-button");
    if (button) button.click();
}
function switch_to_txt2img() { switchToTab("txt2img"); return Array.from(arguments); }
function switch_to_img2img() { switchToTab("img2img"); return Array.from(arguments); }
function switch_to_extras() { switchToTab("extras"); return Array.from(arguments); }

function confirm_clear_prompt(prompt, negativePrompt) {
    return confirm("Delete prompt?") ? ["", ""] : [prompt, negativePrompt];
}

function restart_reload() {
    setTimeout(() => location.reload(), 2000);
    return [];
}

/* onEdit(id, element, ms, fn): fn after `ms` of no typing in element (A1111 1.7+). */
function onEdit(editId, element, timeoutMs, func) {
    let timer = null;
    element.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(func, timeoutMs);
    });
    return () => { clearTimeout(timer); func(); };
}

/* A1111's popup(contents): a dismissable overlay showing the given element. */
var globalPopup = null;
var globalPopupInner = null;
function closePopup() {
    if (globalPopup) globalPopup.style.display = "none";
}
function popup(contents) {
    if (!globalPopup) {
        globalPopup = document.createElement("div");
        globalPopup.classList.add("global-popup");
        const close = document.createElement("div");
        close.classList.add("global-popup-close");
        close.addEventListener("click", closePopup);
        close.title = "Close";
        globalPopupInner = document.createElement("div");
        globalPopupInner.classList.add("global-popup-inner");
        globalPopup.append(close, globalPopupInner);
        gradioApp().querySelector(".main")?.appendChild(globalPopup) || document.body.appendChild(globalPopup);
    }
    globalPopupInner.replaceChildren(contents);
    globalPopup.style.display = "flex";
}
var storedPopupIds = {};
function popupId(id) {
    if (!storedPopupIds[id]) storedPopupIds[id] = document.getElementById(id);
    if (storedPopupIds[id]) popup(storedPopupIds[id]);
}

/* In A1111 the app appears in the DOM at once; Gradio renders it in several passes. An extension observer on
   the whole app (`new MutationObserver(cb).observe(gradioApp(), {subtree: true})`, A1111's own pattern) that
   reacts to the first pass finds half a page, so until onUiLoaded such observers are held back and then called
   once. Observers on anything else (Gradio's own, document.body) are untouched. */
var webuiHeldObservers = [];
(function () {
    "use strict";
    const NativeObserver = window.MutationObserver;
    window.WebuiNativeMutationObserver = NativeObserver;
    window.MutationObserver = class extends NativeObserver {
        constructor(callback) {
            const state = {held: false, pending: false};
            super((records, observer) => {
                if (state.held && !window.__webuiUiLoaded) {
                    state.pending = true;
                    return;
                }
                callback(records, observer);
            });
            this.webuiHold = state;
            this.webuiCallback = callback;
        }

        observe(target, options) {
            const app = document.getElementsByTagName("gradio-app")[0];
            if (!window.__webuiUiLoaded && options && options.subtree && app && (target === app || target === app.shadowRoot)) {
                this.webuiHold.held = true;
                webuiHeldObservers.push(this);
            }
            return super.observe(target, options);
        }
    };
})();

(function () {
    "use strict";
    const NativeObserver = window.WebuiNativeMutationObserver;

    function releaseHeldObservers() {
        for (const observer of webuiHeldObservers.splice(0)) {
            if (!observer.webuiHold.pending) continue;
            try {
                observer.webuiCallback([], observer);
            } catch (error) {
                console.error("error running a MutationObserver callback held until the UI loaded:", error);
            }
        }
    }

    /* `#txt2img_prompt > label > textarea`: A1111's shape. Gradio nests the box one level deeper
       (label > div.input-container > textarea); lift it into the label. The element itself moves, so Gradio's
       own listeners and bindings stay attached. */
    function liftTextboxes(root) {
        root.querySelectorAll("[id] > label > .input-container > textarea, [id] > label > .input-container > input[type=text]:not([role])")
            .forEach((box) => box.parentElement.parentElement.insertBefore(box, box.parentElement));
    }

    /* `#tabs > .tab-nav > button.selected`: A1111's tab bar class, on Gradio's tab list. */
    function markTabNav(root) {
        root.querySelectorAll(".tabs > .tab-wrapper > [role=tablist]:not(.tab-nav)").forEach((nav) => nav.classList.add("tab-nav"));
    }

    function addTitles(root) {
        root.querySelectorAll("span, button, select, p").forEach((element) => {
            if (element.title) return;
            const text = (element.textContent || "").trim();
            const tooltip = titles[text] || titles[element.value] || titles[element.className];
            if (tooltip) element.title = tooltip;
        });
    }

    let afterUpdateTimer = null;
    function announceOptions() {
        if (window.__webuiOptionsAnnounced) return;
        window.__webuiOptionsAnnounced = true;
        executeCallbacks(optionsAvailableCallbacks);
        executeCallbacks(optionsChangedCallbacks);
    }

    function afterUpdate() {
        executeCallbacks(uiAfterUpdateCallbacks);
        announceOptions();
    }

    /* A1111 renders every tab at load; Gradio renders a tab when first shown, and keeps it after. Before
       onUiLoaded img2img, each extension tab and each tab nested in an extension's tab are shown once,
       unseen, and the selection put back, so scripts find #img2img_prompt or their own elements at load as
       in A1111. Extras, PNG Info, Merger, Extensions and Settings stay lazy (heavy; extension scripts do not
       look them up at load), as do tabs nested in our own tabs (img2img's Sketch, Inpaint...): selecting
       those tells the server, which loading the page must not do. */
    const CORE_TABS = ["txt2img", "img2img", "extras", "pnginfo", "modelmerger", "extensions", "settings"];
    const LAZY_CORE_TABS = ["extras", "pnginfo", "modelmerger", "extensions", "settings"]; // heavy, not looked up at load
    const MOUNT_SELECTOR = "#tabs > .tab-wrapper [role=tablist] > button[role=tab]"
        + LAZY_CORE_TABS.map((id) => ":not(#tab_" + id + "-button)").join("") + ", "
        + "#tabs > .tabitem" + CORE_TABS.map((id) => ":not(#tab_" + id + ")").join("") + " [role=tablist] > button[role=tab]";
    const mounting = {current: null, deadline: 0, settledAt: 0, tried: new Set(), selected: new Map(), done: false};
    const SETTLE_MS = 400;
    function tabMissing(button) {
        const id = button.getAttribute("aria-controls");
        return !!id && !document.getElementById(id);
    }

    /* A tab the user picks while tabs are being mounted is where the page stays afterwards. */
    document.addEventListener("click", (event) => {
        if (mounting.done || !event.isTrusted || !event.target.closest) return;
        const button = event.target.closest("button[role=tab]");
        if (button && button.parentElement) mounting.selected.set(button.parentElement, button);
    }, true);

    /* A nested tab renders only while the tabs around it are shown: select each enclosing tab first
       (outermost first), remembering what was selected so it is put back afterwards. */
    function showEnclosingTabs(button) {
        const chain = [];
        for (let item = button.closest(".tabitem"); item; item = item.parentElement && item.parentElement.closest(".tabitem")) {
            chain.unshift(item);
        }
        for (const item of chain) {
            const owner = item.id && gradioApp().querySelector("button[role=tab][aria-controls='" + item.id + "']");
            if (!owner || owner.classList.contains("selected")) continue;
            const list = owner.parentElement;
            if (!mounting.selected.has(list)) mounting.selected.set(list, list.querySelector("button[role=tab].selected"));
            owner.click();
        }
    }

    function allTabsMounted() {
        if (mounting.done) return true;
        if (mounting.current) {
            if (tabMissing(mounting.current) && Date.now() < mounting.deadline) return false;
            mounting.current = null;
            mounting.settledAt = Date.now();
        }
        const buttons = Array.from(gradioApp().querySelectorAll(MOUNT_SELECTOR));
        const next = buttons.find((button) => tabMissing(button) && !mounting.tried.has(button));
        if (!next && Date.now() - mounting.settledAt < SETTLE_MS) {
            /* a tab just shown may still be drawing the tabs nested in it: look again once it is quiet */
            setTimeout(() => onMutations([]), SETTLE_MS + 20);
            return false;
        }
        if (!next) {
            for (const button of Array.from(mounting.selected.values()).reverse()) if (button) button.click();
            document.documentElement.classList.remove("webui-mounting-tabs");
            mounting.done = true;
            return true;
        }
        if (mounting.selected.size === 0) {
            const style = document.createElement("style");
            style.textContent = ".webui-mounting-tabs #tabs > .tabitem { visibility: hidden; }";
            document.head.appendChild(style);
            document.documentElement.classList.add("webui-mounting-tabs");
        }
        const list = next.parentElement;
        if (!mounting.selected.has(list)) mounting.selected.set(list, list.querySelector("button[role=tab].selected"));
        mounting.tried.add(next);
        mounting.current = next;
        mounting.deadline = Date.now() + 10000;
        setTimeout(() => onMutations([]), 10050); // go on even if this tab never appears
        showEnclosingTabs(next);
        next.click();
        return false;
    }

    let loadedTimer = null;
    function uiLoaded() {
        window.__webuiUiLoaded = true;
        liftTextboxes(gradioApp());
        markTabNav(gradioApp());
        uiCurrentTab = get_uiCurrentTab();
        executeCallbacks(uiLoadedCallbacks);
        releaseHeldObservers();
        onMutations([]);
    }

    function onMutations(mutations) {
        liftTextboxes(gradioApp());
        markTabNav(gradioApp());
        if (!window.__webuiUiLoaded) {
            /* Gradio renders in several passes: onUiLoaded waits for 100 ms without changes, as A1111's page
               is complete when #txt2img_prompt appears. */
            clearTimeout(loadedTimer);
            if (!gradioApp().querySelector("#txt2img_prompt") || !allTabsMounted()) return;
            loadedTimer = setTimeout(uiLoaded, 100);
            return;
        }
        executeCallbacks(uiUpdateCallbacks, mutations);
        clearTimeout(afterUpdateTimer);
        afterUpdateTimer = setTimeout(afterUpdate, 200);
        const tab = get_uiCurrentTab();
        if (tab && tab !== uiCurrentTab) {
            uiCurrentTab = tab;
            executeCallbacks(uiTabChangeCallbacks);
        }
        addTitles(gradioApp());
    }

    /* After Apply settings, fetch the saved options and tell listeners (A1111 watches its settings_json). */
    async function refreshOptions() {
        try {
            const response = await fetch("./webui/opts.json", {cache: "no-store"});
            if (!response.ok) return;
            const fresh = await response.json();
            if (JSON.stringify(fresh) === JSON.stringify(opts)) return;
            opts = fresh;
            executeCallbacks(optionsChangedCallbacks);
        } catch (error) {
            console.error("options could not be refreshed:", error);
        }
    }

    document.addEventListener("click", (event) => {
        if (event.target.closest && event.target.closest("#settings_submit")) setTimeout(refreshOptions, 1500);
    }, true);

    function start() {
        new NativeObserver(onMutations).observe(gradioApp(), {childList: true, subtree: true});
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
