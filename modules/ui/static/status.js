// The status line in the top bar (#model_status), kept current without loading an idle server: while the
// server is busy (starting, a job queued or running) /webui/status is asked every second, otherwise every
// 15 seconds; a click on any button asks at once, since it may have started something.
(() => {
    const BUSY_MS = 1000;
    const IDLE_MS = 15000;
    let timer = null;

    function show(text) {
        const box = document.querySelector("#model_status");
        if (!box || typeof text !== "string") return;
        const target = box.querySelector(".md, .prose") || box;
        if (target.textContent !== text) target.textContent = text;
    }

    function schedule(delay) {
        clearTimeout(timer);
        timer = setTimeout(poll, delay);
    }

    async function poll() {
        let busy = false;
        try {
            const response = await fetch("/webui/status", {cache: "no-store", credentials: "same-origin"});
            if (response.ok) {
                const state = await response.json();
                busy = Boolean(state.busy);
                show(state.status);
            }
        } catch (error) {
            // the server is restarting or gone: ask again later
        }
        schedule(busy ? BUSY_MS : IDLE_MS);
    }

    document.addEventListener("click", (event) => {
        if (event.target instanceof Element && event.target.closest("button")) schedule(300);
    }, true);
    schedule(BUSY_MS);
})();
