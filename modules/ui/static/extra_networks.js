/* Extra Networks cards: a click adds the card's text to the prompt (a second click removes it, as in A1111);
   a checkpoint card or the 🛠️ button sends a request to the server through the panel's hidden textbox. */
(function () {
    "use strict";

    function setTextbox(textarea, value) {
        textarea.value = value;
        textarea.dispatchEvent(new Event("input", {bubbles: true}));
    }

    function togglePromptText(textarea, text) {
        const current = textarea.value;
        if (current.includes(text)) {
            setTextbox(textarea, current.replace(text, "").replace(/ {2,}/g, " ").trim());
        } else {
            setTextbox(textarea, current.trim() ? current.replace(/\s+$/, "") + " " + text : text);
        }
    }

    function sendAction(tab, request) {
        const box = document.querySelector("#" + tab + "_extra_networks_action textarea");
        if (!box) return;
        request.nonce = Date.now();  // the same card twice is still a change
        setTextbox(box, JSON.stringify(request));
    }

    document.addEventListener("click", (event) => {
        const card = event.target.closest && event.target.closest(".extra-network-card");
        if (!card) return;
        const tab = card.dataset.tab;
        const page = card.dataset.page;
        const name = card.dataset.name;
        if (event.target.closest(".edit-button")) {
            event.stopPropagation();
            sendAction(tab, {action: "edit", page: page, name: name});
            return;
        }
        if (page === "checkpoints") {
            sendAction(tab, {action: "checkpoint", page: page, name: name});
            return;
        }
        const prompt = document.querySelector("#" + tab + "_prompt textarea");
        if (prompt) togglePromptText(prompt, card.dataset.prompt);
    });
})();
