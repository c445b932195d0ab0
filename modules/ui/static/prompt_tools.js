/* Two habits of A1111 users, written for this project after A1111's behaviour (edit-attention.js,
   contextMenus.js):
   - Ctrl+Up / Ctrl+Down in a prompt raise / lower the emphasis of the selection, or of the word, (block:w)
     or <network:name:w> under the cursor: "cat" -> "(cat:1.1)", back to 1 removes the brackets, old-style
     ((cat)) becomes (cat:1.2); steps are the settings keyedit_precision_attention / keyedit_precision_extra.
   - Right-click on Generate: "Generate forever" keeps clicking Generate whenever the previous run ended,
     until "Cancel generate forever". */
(function () {
    "use strict";

    const DEFAULTS = {
        keyedit_precision_attention: 0.1,
        keyedit_precision_extra: 0.05,
        keyedit_delimiters: ".,\\/!?%^*;:{}=`~() ",
        keyedit_delimiters_whitespace: ["Tab", "Carriage Return", "Line Feed"],
    };
    const WHITESPACE = {"Tab": "\t", "Carriage Return": "\r", "Line Feed": "\n"};

    function option(name) {
        const stored = window.opts && window.opts[name];
        return stored === undefined || stored === null || stored === "" ? DEFAULTS[name] : stored;
    }

    /* The span inside the innermost open/close pair around the caret; with a trailing ":number" the span
       stops before its last colon. null when the caret is not inside such a pair. */
    function enclosingBlock(text, caret, open, close) {
        const before = text.slice(0, caret);
        const openAt = before.lastIndexOf(open);
        if (openAt < 0 || before.lastIndexOf(close) > openAt) return null;
        const after = text.slice(caret);
        const closeOffset = after.indexOf(close);
        if (closeOffset < 0) return null;
        const nextOpen = after.indexOf(open);
        if (nextOpen >= 0 && nextOpen < closeOffset) return null;
        const inner = text.slice(openAt + 1, caret + closeOffset);
        const start = openAt + 1;
        if (/:-?[\d.]+/.test(inner)) return [start, start + inner.lastIndexOf(":")];
        return [start, start + inner.length];
    }

    function wordAt(text, caret, delimiters) {
        let start = caret;
        let end = caret;
        while (start > 0 && !delimiters.includes(text[start - 1])) start--;
        while (end < text.length && !delimiters.includes(text[end])) end++;
        while (start < end && text[start] === " ") start++;
        while (end > start && text[end - 1] === " ") end--;
        return [start, end];
    }

    function formatWeight(weight) {
        const rounded = parseFloat(weight.toPrecision(12));
        return Number.isInteger(rounded) ? rounded.toFixed(1) : String(rounded);
    }

    /* The edited prompt and selection for one Ctrl+Up (up=true) / Ctrl+Down; null when nothing changes. */
    function editAttention(text, selStart, selEnd, up) {
        let start = selStart;
        let end = selEnd;
        if (start === end) {
            const block = enclosingBlock(text, start, "<", ">") || enclosingBlock(text, start, "(", ")") ||
                enclosingBlock(text, start, "[", "]");
            if (block) {
                [start, end] = block;
            } else {
                let delimiters = option("keyedit_delimiters");
                for (const name of option("keyedit_delimiters_whitespace")) delimiters += WHITESPACE[name] || "";
                [start, end] = wordAt(text, start, delimiters);
            }
        }
        const opener = start > 0 ? text[start - 1] : "";
        const closer = text[end];
        let close = ")";
        let step = Number(option("keyedit_precision_attention"));
        if (opener === "<") {
            close = ">";
            step = Number(option("keyedit_precision_extra"));
        } else if ((opener === "(" && closer === ")") || (opener === "[" && closer === "]")) {
            let depth = 0;  // ((word)) / [[word]]: A1111's old emphasis, rewritten with an explicit weight
            while (text[start - depth - 1] === opener && text[end + depth] === closer) depth++;
            const base = opener === "[" ? Math.pow(1 / 1.1, depth) : Math.pow(1.1, depth);
            const precision = Number(option("keyedit_precision_attention"));
            const weight = Math.round(base / precision) * precision;
            text = text.slice(0, start - depth) + "(" + text.slice(start, end) + ":" + weight + ")" + text.slice(end + depth);
            start -= depth - 1;
            end -= depth - 1;
        } else if (opener !== "(") {
            while (end > start && text[end - 1] === " ") end--;
            if (start === end) return null;
            text = text.slice(0, start) + "(" + text.slice(start, end) + ":1.0)" + text.slice(end);
            start++;
            end++;
        }
        if (text[end] !== ":") return null;
        const weightLength = text.slice(end + 1).indexOf(close) + 1;
        let weight = parseFloat(text.slice(end + 1, end + weightLength));
        if (isNaN(weight)) return null;
        weight += up ? step : -step;
        const written = formatWeight(weight);
        if (close === ")" && parseFloat(written) === 1) {
            const closeAt = text.slice(end).indexOf(")");
            text = text.slice(0, start - 1) + text.slice(start, end) + text.slice(end + closeAt + 1);
            return {text: text, start: start - 1, end: end - 1};
        }
        text = text.slice(0, end + 1) + written + text.slice(end + weightLength);
        return {text: text, start: start, end: end};
    }
    window.webuiEditAttention = editAttention;  // for tests and extensions

    function isPromptBox(element) {
        return element && element.tagName === "TEXTAREA" &&
            element.matches("[id$='_prompt'] textarea, [id$='_neg_prompt'] textarea, .prompt textarea");
    }

    document.addEventListener("keydown", (event) => {
        if (!(event.ctrlKey || event.metaKey) || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
        const box = event.composedPath ? event.composedPath()[0] : event.target;
        if (!isPromptBox(box)) return;
        event.preventDefault();
        const edited = editAttention(box.value, box.selectionStart, box.selectionEnd, event.key === "ArrowUp");
        if (!edited) return;
        box.value = edited.text;
        box.setSelectionRange(edited.start, edited.end);
        box.dispatchEvent(new Event("input", {bubbles: true}));
    });

    /* ---- Generate forever ------------------------------------------------------------------------------- */
    const forever = {};  // tab -> interval id

    function visible(id) {
        const element = document.getElementById(id);
        return element !== null && element.offsetParent !== null;
    }

    function startForever(tab) {
        if (forever[tab]) return;
        let clickedAt = 0;
        let sawBusy = true;
        const tick = () => {
            const idle = visible(tab + "_generate") && !visible(tab + "_interrupt");
            if (!idle) {
                sawBusy = true;
                return;
            }
            if (!sawBusy && Date.now() - clickedAt < 3000) return;  // the last click has not started yet
            sawBusy = false;
            clickedAt = Date.now();
            document.getElementById(tab + "_generate").click();
        };
        forever[tab] = setInterval(tick, 500);
        tick();
    }

    function stopForever(tab) {
        clearInterval(forever[tab]);
        delete forever[tab];
    }

    function closeMenu() {
        const menu = document.getElementById("context-menu");
        if (menu) menu.remove();
    }

    function translated(text) {
        return (window.localization && window.localization[text]) || text;
    }

    function showMenu(tab, x, y) {
        closeMenu();
        const menu = document.createElement("nav");
        menu.id = "context-menu";
        menu.className = "context-menu";
        menu.style.left = x + "px";
        menu.style.top = y + "px";
        const entries = [
            ["Generate forever", () => startForever(tab)],
            ["Cancel generate forever", () => stopForever(tab)],
        ];
        const list = document.createElement("ul");
        for (const [label, action] of entries) {
            const item = document.createElement("li");
            item.textContent = translated(label);
            item.dataset.action = label;
            item.addEventListener("click", () => {
                closeMenu();
                action();
            });
            list.appendChild(item);
        }
        menu.appendChild(list);
        document.body.appendChild(menu);
    }

    document.addEventListener("contextmenu", (event) => {
        // the whole Generate box: while a run shows Interrupt/Skip instead of Generate, the menu stays reachable
        const box = event.target.closest && event.target.closest("#txt2img_generate_box, #img2img_generate_box");
        if (!box) return;
        event.preventDefault();
        showMenu(box.id.replace(/_generate_box$/, ""), event.pageX, event.pageY);
    });
    document.addEventListener("click", (event) => {
        if (!event.isTrusted) return;  // Generate forever's own clicks must not close the menu
        if (!event.target.closest || !event.target.closest("#context-menu")) closeMenu();
    });
})();
