/*
 * In-page translator: shows the interface in the language chosen in Settings -> User interface -> Localization.
 *
 * The server serves the chosen language as `window.localization = {English: translation}` from
 * /webui/localization.js (A1111's format; {} for "None"). Translation happens here, on what the browser shows:
 * text nodes, and the title / placeholder / aria-label attributes. The values Gradio sends to the server are
 * never touched, so settings, infotexts and the API stay English. A MutationObserver translates what Gradio
 * adds or changes later (tabs opened, accordions, status messages, choice lists).
 *
 * Dropdowns need one extra step: Gradio shows the selected choice as the `value` of an <input>, which is a
 * property, not a text node. Each dropdown input gets a `value` setter that shows the translation, while
 * Gradio keeps its own (English) copy of the choice in its state.
 *
 * Keys may hold named placeholders, "Loading {name}...": when no key matches a text exactly, such a key
 * matches it as a pattern (the one with the most literal text first) and the translation gets the same
 * pieces back. tools/localization/lookup.py
 * repeats these rules in Python for the coverage test and tools/localization_template.py.
 *
 * Model names, file names and user content are left alone: in a component with an id in IGNORED_IDS (A1111's
 * list plus ours), the class "notranslate" or the attribute translate="no", only the label, the info text and
 * the placeholder / aria-label hints are translated, never the choices or the content.
 */
(function () {
    "use strict";

    const IGNORED_IDS = new Set([
        // A1111's ignore list: choices there are model or file names.
        "setting_sd_hypernetwork", "setting_sd_model_checkpoint", "setting_realesrgan_enabled_models",
        "modelmerger_primary_model_name", "modelmerger_secondary_model_name", "modelmerger_tertiary_model_name",
        "train_embedding", "train_hypernetwork", "txt2img_styles", "img2img_styles",
        "setting_random_artist_categories", "setting_face_restoration_model", "extras_upscaler_1",
        "extras_upscaler_2",
        // Ours: generation info (prompts, infotexts), PNG Info output, extra-network cards, style names,
        // language names, setting keys and extension folder names.
        "html_info_txt2img", "html_info_img2img", "html_info_extras", "pnginfo_html_info", "pnginfo_generation_info",
        "txt2img_extra_networks", "img2img_extra_networks", "txt2img_styles_edit_select", "img2img_styles_edit_select",
        "setting_localization", "setting_quicksettings_list", "setting_disabled_extensions", "extensions_enabled",
    ]);
    const IGNORED_ID_PATTERNS = [/_cards$/, /_model_dropdown$/];
    const SKIPPED_PARENTS = new Set(["SCRIPT", "STYLE", "TEXTAREA", "CODE", "PRE", "KBD", "SAMP", "NOSCRIPT"]);
    const ATTRIBUTES = ["title", "placeholder", "aria-label"];
    // Inside an ignored component, its label and info text are still translated, and so are the attributes
    // that only ever hold a label or a hint; its values (choices, names, content) are not.
    const LABEL_PARTS = '[data-testid="block-info"], [data-testid="block-label"], .info-text';
    const LABEL_ATTRIBUTES = new Set(["placeholder", "aria-label"]);
    const VALUE_PARTS = '[role="listbox"], [role="option"], .token'; // choices and chosen items: names
    const MAX_REMEMBERED = 5000; // strings kept in the cache and the seen / missing lists
    const HAS_LETTER = /\p{L}/u;
    const LETTERS = /\p{L}/gu;
    const DIGIT = /\d/;
    // Emoji (with their variation selectors and joiners) are decoration: "Run preprocessor 💥" is looked up as
    // "Run preprocessor" and the emoji stays where it was.
    const EMOJI = /[\p{Extended_Pictographic}\u{1F3FB}-\u{1F3FF}\u{1F9B0}-\u{1F9B3}\u{FE0F}\u{200D}]/gu;
    const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

    /* Text with a letter and more than a unit ("0.5s", "512x512" are numbers, not words). */
    function isTranslatable(text) {
        if (!text || !HAS_LETTER.test(text)) return false;
        return !(DIGIT.test(text) && (text.match(LETTERS) || []).length <= 2);
    }

    /* The words of a text without its emoji. */
    function withoutEmoji(text) {
        return text.replace(EMOJI, "").trim();
    }

    function escapeRegExp(text) {
        return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    }

    /* Keys with {placeholders}, as anchored regular expressions; keys with too little literal text are left out. */
    function compilePatterns(dictionary) {
        const patterns = [];
        for (const key of Object.keys(dictionary)) {
            if (typeof dictionary[key] !== "string" || !dictionary[key] || !key.includes("{")) continue;
            const names = [];
            let source = "";
            let last = 0;
            for (const match of key.matchAll(PLACEHOLDER)) {
                source += escapeRegExp(key.slice(last, match.index)) + "([\\s\\S]+?)";
                names.push(match[1]);
                last = match.index + match[0].length;
            }
            const literal = key.replace(PLACEHOLDER, "");
            if (!names.length || (literal.match(/\p{L}/gu) || []).length < 3) continue;
            source += escapeRegExp(key.slice(last));
            patterns.push({regexp: new RegExp("^" + source + "$", "u"), names: names, template: dictionary[key],
                           literal: literal.length});
        }
        // The most specific pattern wins: "{n} changed: {keys}. Press Reload UI..." before "{n} changed: {keys}."
        return patterns.sort((a, b) => b.literal - a.literal);
    }

    class PageTranslator {
        constructor(dictionary) {
            this.dictionary = dictionary || {};
            this.patterns = compilePatterns(this.dictionary);
            this.translations = new Set(Object.values(this.dictionary).filter((v) => typeof v === "string"));
            this.seen = new Set(); // every English string looked up: the raw material of a template
            this.missing = new Set(); // looked up but absent from the dictionary
            this.cache = new Map();
            this.shownText = new WeakMap(); // text node -> the text this translator put there
            this.shownAttributes = new WeakMap(); // element -> {attribute: the value this translator put there}
            this.hookedInputs = new WeakSet();
            this.observer = null;
        }

        get active() {
            return Object.keys(this.dictionary).some((key) => key !== "rtl");
        }

        /* The translation of `text` (already trimmed), or undefined. Records what it saw. */
        lookup(text) {
            if (!text) return undefined;
            const words = withoutEmoji(text);
            if (words !== text) {
                const translated = words && text.includes(words) ? this.lookup(words) : undefined;
                return translated === undefined ? undefined : text.replace(words, translated);
            }
            if (!isTranslatable(text)) return undefined;
            const own = Object.prototype.hasOwnProperty.call(this.dictionary, text);
            if (this.translations.has(text) && !own) return undefined; // already translated
            if (this.cache.has(text)) return this.cache.get(text);
            if (this.cache.size > MAX_REMEMBERED) this.cache.clear(); // progress texts are new every second
            if (this.seen.size < MAX_REMEMBERED) this.seen.add(text);
            let result = own ? this.dictionary[text] : undefined;
            if (typeof result !== "string" || result === "") result = undefined;
            if (result === undefined) result = this.matchPattern(text);
            if (result === undefined && this.missing.size < MAX_REMEMBERED) this.missing.add(text);
            this.cache.set(text, result);
            return result;
        }

        /* The dictionary's own translation of `text`, or null. */
        exact(text) {
            const key = text.trim();
            const value = Object.prototype.hasOwnProperty.call(this.dictionary, key) ? this.dictionary[key] : null;
            return typeof value === "string" && value !== "" ? value : null;
        }

        matchPattern(text) {
            for (const pattern of this.patterns) {
                const match = pattern.regexp.exec(text);
                if (!match) continue;
                // The pieces are translated too when the language has them exactly ("range slider for {label}"),
                // and so are the items of a comma-separated list ("changed: Clip skip, Localization").
                const values = {};
                pattern.names.forEach((name, index) => {
                    const piece = match[index + 1];
                    values[name] = piece.split(", ").map((item) => this.exact(item) ?? item).join(", ");
                });
                return pattern.template.replace(PLACEHOLDER, (whole, name) => (name in values ? values[name] : whole));
            }
            return undefined;
        }

        /* Whether this element itself marks its subtree as not to be translated. */
        static marksIgnored(element) {
            if (element.getAttribute("translate") === "no" || element.classList.contains("notranslate")) return true;
            const id = element.id;
            return Boolean(id) && (IGNORED_IDS.has(id) || IGNORED_ID_PATTERNS.some((pattern) => pattern.test(id)));
        }

        /* Whether text in `element` belongs to the values of an ignored component (not to its label). */
        isIgnored(element) {
            for (let node = element; node && node.nodeType === 1; node = node.parentElement) {
                if (node.matches(LABEL_PARTS)) return false;
                if (PageTranslator.marksIgnored(node)) return true;
            }
            return false;
        }

        /* In an ignored subtree: only the label parts and the label attributes (not those of its choices). */
        translateLabelsOf(root) {
            for (const part of root.querySelectorAll(LABEL_PARTS)) this.translateTree(part);
            for (const name of LABEL_ATTRIBUTES) {
                const elements = [root, ...root.querySelectorAll(`[${name}]`)];
                for (const element of elements) {
                    if (element.hasAttribute(name) && !element.closest(VALUE_PARTS)) {
                        this.translateAttribute(element, name, true);
                    }
                }
            }
        }

        /* `checked`: the caller already knows no ancestor is ignored (a walk that skips ignored subtrees). */
        translateTextNode(node, checked) {
            const parent = node.parentElement;
            if (!parent || SKIPPED_PARENTS.has(parent.nodeName.toUpperCase())) return;
            const raw = node.nodeValue;
            if (!raw || this.shownText.get(node) === raw) return;
            const text = raw.trim();
            if (!text || (!checked && this.isIgnored(parent))) return;
            const translated = this.lookup(text);
            if (translated === undefined) return;
            const start = raw.indexOf(text);
            const shown = raw.slice(0, start) + translated + raw.slice(start + text.length);
            this.shownText.set(node, shown);
            node.nodeValue = shown;
        }

        translateAttribute(element, name, checked) {
            const value = element.getAttribute(name);
            if (!value) return;
            const shown = this.shownAttributes.get(element);
            if (shown && shown[name] === value) return;
            const text = value.trim();
            if (!checked && this.isIgnored(element)
                && (!LABEL_ATTRIBUTES.has(name) || element.closest(VALUE_PARTS))) return;
            const translated = this.lookup(text);
            if (translated === undefined) return;
            const record = shown || {};
            record[name] = translated;
            this.shownAttributes.set(element, record);
            element.setAttribute(name, translated);
        }

        /* Gradio's dropdown shows its choice as the input's value: translate what is shown, keep what is sent. */
        hookDropdownInput(input, checked) {
            if (this.hookedInputs.has(input) || (!checked && this.isIgnored(input))) return;
            this.hookedInputs.add(input);
            const native = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value");
            const translator = this;
            let typing = false;
            const shown = (value) => {
                if (typing || typeof value !== "string") return value;
                const translated = translator.lookup(value.trim());
                return translated === undefined ? value : translated;
            };
            Object.defineProperty(input, "value", {
                configurable: true,
                get() { return native.get.call(this); },
                set(value) { native.set.call(this, shown(value)); },
            });
            input.addEventListener("input", () => { typing = true; });
            input.addEventListener("focus", () => { typing = false; });
            input.addEventListener("blur", () => {
                typing = false;
                setTimeout(() => { input.value = native.get.call(input); }, 0);
            });
            input.value = native.get.call(input);
        }

        translateTree(root) {
            if (!root) return;
            if (root.nodeType === 3) {
                this.translateTextNode(root);
                return;
            }
            if (root.nodeType !== 1 && root.nodeType !== 9 && root.nodeType !== 11) return;
            if (root.nodeType === 1 && this.isIgnored(root)) {
                this.translateLabelsOf(root);
                return;
            }
            const ignoredParts = [];
            const skipIgnored = {
                acceptNode: (node) => {
                    if (node.nodeType !== 1 || !PageTranslator.marksIgnored(node)) return NodeFilter.FILTER_ACCEPT;
                    ignoredParts.push(node);
                    return NodeFilter.FILTER_REJECT;
                },
            };
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT, skipIgnored);
            for (let node = root.nodeType === 1 ? root : walker.nextNode(); node; node = walker.nextNode()) {
                if (node.nodeType === 3) {
                    this.translateTextNode(node, true);
                    continue;
                }
                for (const name of ATTRIBUTES) {
                    if (node.hasAttribute(name)) this.translateAttribute(node, name, true);
                }
                if (node.nodeName === "INPUT" && node.getAttribute("role") === "combobox") {
                    this.hookDropdownInput(node, true);
                }
            }
            for (const part of ignoredParts) this.translateLabelsOf(part);
        }

        handleMutations(mutations) {
            for (const mutation of mutations) {
                if (mutation.type === "childList") {
                    mutation.addedNodes.forEach((node) => this.translateTree(node));
                } else if (mutation.type === "characterData") {
                    this.translateTextNode(mutation.target);
                } else if (mutation.type === "attributes") {
                    this.translateAttribute(mutation.target, mutation.attributeName);
                }
            }
        }

        start(root) {
            if (this.dictionary.rtl === true) document.documentElement.setAttribute("dir", "rtl");
            this.translateTree(root);
            this.observer = new MutationObserver((mutations) => this.handleMutations(mutations));
            this.observer.observe(root, {
                childList: true, subtree: true, characterData: true, attributes: true,
                attributeFilter: ATTRIBUTES,
            });
        }

        /* A1111's "localization template": every string seen, with its translation or itself. */
        dump() {
            if (!this.active) this.translateTree(document.body);
            const dumped = {};
            if (this.dictionary.rtl) dumped.rtl = true;
            for (const text of this.seen) dumped[text] = this.dictionary[text] || text;
            return dumped;
        }
    }

    function loadedDictionary() {
        const value = window.localization;
        return value && typeof value === "object" && !Array.isArray(value) ? value : null;
    }

    /* /webui/localization.js may be added to the page after this script; wait for it a little while. */
    function whenDictionaryReady(callback) {
        const started = Date.now();
        (function check() {
            if (window.localization !== undefined) callback(loadedDictionary() || {});
            else if (Date.now() - started < 10000) setTimeout(check, 25);
            else callback({});
        })();
    }

    const api = {
        translator: null,
        ready: false,
        /* The translation of `text`, or `text` itself (English fallback). */
        translate(text) {
            const found = api.translator ? api.translator.lookup(String(text).trim()) : undefined;
            return found === undefined ? text : found;
        },
        /* Strings the page showed that the chosen language lacks. */
        missing() {
            return api.translator ? Array.from(api.translator.missing).sort() : [];
        },
        /* Every string looked up so far; in English (nothing to translate) the page is read now. */
        seen() {
            if (!api.translator) return [];
            if (!api.translator.active) api.translator.translateTree(document.body);
            return Array.from(api.translator.seen).sort();
        },
        dump() {
            return api.translator ? api.translator.dump() : {};
        },
        /* Translate a subtree now (for code that builds DOM outside Gradio and wants it translated at once). */
        translateTree(root) {
            if (api.translator && api.translator.active) api.translator.translateTree(root);
        },
    };
    window.webuiLocalization = api;
    // A1111 names, for extensions written against its localization.js.
    window.getTranslation = (text) => {
        const found = api.translator ? api.translator.lookup(String(text).trim()) : undefined;
        return found;
    };
    window.dumpTranslations = () => api.dump();

    whenDictionaryReady((dictionary) => {
        const translator = new PageTranslator(dictionary);
        api.translator = translator;
        const begin = () => {
            if (translator.active) translator.start(document.body);
            api.ready = true;
            document.dispatchEvent(new CustomEvent("webui-localization-ready"));
        };
        if (document.body) begin();
        else document.addEventListener("DOMContentLoaded", begin, {once: true});
    });
})();
