/* Page behaviour that Gradio has no API for: keyboard shortcuts and A1111's button tooltips.
   Tooltip texts are A1111's (hints.js) so localization files translate them. */
(function () {
    "use strict";

    const TOOLTIPS_BY_ID = [
        [/_random_seed$|_random_subseed$/, "Set seed to -1, which will cause a new random number to be used every time"],
        [/_reuse_seed$|_reuse_subseed$/, "Reuse seed from last generation, mostly useful if it was randomized"],
        [/_paste$/, "Read generation parameters from prompt or last generation if prompt is empty into user interface."],
        [/_clear_prompt$/, "Clear prompt"],
        [/_style_apply$/, "Apply all selected styles to the prompts"],
        [/_style_create$/, "Save current prompts as a style. If you add the token {prompt} to the text, the style uses that as a placeholder for your prompt when you use the style in the future."],
        [/_open_folder$/, "Open images output directory"],
        [/^save_zip_/, "Save zip archive with images to a dedicated directory (log/images)"],
        [/^save_/, "Save the image to a dedicated directory (log/images)"],
        [/_send_to_img2img$/, "Send image and generation parameters to img2img tab."],
        [/_send_to_inpaint$/, "Send image and generation parameters to img2img tab's inpaint tab."],
        [/_send_to_extras$/, "Send image and generation parameters to extras tab."],
        [/_res_switch_btn$/, "Switch width/height"],
        [/_detect_image_size_btn$/, "Auto detect size from img2img"],
        [/^refresh_|_refresh_checkpoint_names$|_extra_refresh$|_refresh$/, "Refresh"],
        [/_interrupt$/, "Stop processing images and return any results accumulated so far."],
        [/_skip$/, "Stop processing current image and continue processing."],
    ];

    // icon buttons whose id is not listed above (extensions, new tabs): A1111's title for the symbol
    const TOOLTIPS_BY_SYMBOL = {
        "\u{1f3b2}\ufe0f": "Set seed to -1, which will cause a new random number to be used every time",
        "\u267b\ufe0f": "Reuse seed from last generation, mostly useful if it was randomized",
        "\u2199\ufe0f": "Read generation parameters from prompt or last generation if prompt is empty into user interface.",
        "\u{1f5d1}\ufe0f": "Clear prompt",
        "\u{1f4cb}": "Apply all selected styles to the prompts",
        "\u{1f4c2}": "Open images output directory",
        "\u{1f4be}": "Save the image to a dedicated directory (log/images)",
        "\u{1f5c3}\ufe0f": "Save zip archive with images to a dedicated directory (log/images)",
        "\u{1f5bc}\ufe0f": "Send image and generation parameters to img2img tab.",
        "\u{1f3a8}\ufe0f": "Send image and generation parameters to img2img tab's inpaint tab.",
        "\u{1f4d0}": "Send image and generation parameters to extras tab.",
        "\u{1f504}": "Refresh",
        "\u21c5": "Switch width/height",
        "\u{1f6e0}\ufe0f": "Edit metadata",
    };

    function addTooltips(root) {
        root.querySelectorAll("button[id]:not([title])").forEach((button) => {
            for (const [pattern, text] of TOOLTIPS_BY_ID) {
                if (pattern.test(button.id)) {
                    button.title = text;
                    return;
                }
            }
        });
        root.querySelectorAll("button.tool:not([title])").forEach((button) => {
            const text = TOOLTIPS_BY_SYMBOL[(button.textContent || "").trim()];
            if (text) button.title = text;
        });
    }

    function visibleButton(id) {
        const button = document.getElementById(id);
        return button && button.offsetParent !== null ? button : null;
    }

    function activeTab() {
        for (const name of ["txt2img", "img2img"]) {
            const tab = document.getElementById("tab_" + name);
            if (tab && tab.offsetParent !== null) return name;
        }
        return null;
    }

    document.addEventListener("keydown", (event) => {
        const tab = activeTab();
        if (!tab) return;
        let button = null;
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) button = visibleButton(tab + "_generate");
        else if (event.key === "Enter" && event.altKey) button = visibleButton(tab + "_skip");
        else if (event.key === "Escape") button = visibleButton(tab + "_interrupt");
        if (button) {
            event.preventDefault();
            button.click();
        }
    });

    const observer = new MutationObserver(() => addTooltips(document));
    function start() {
        addTooltips(document);
        observer.observe(document.body, {childList: true, subtree: true});
    }
    // Gradio may insert this script after DOMContentLoaded has fired: then start at once
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
})();
