// Reload the page once the server answers again (after "Reload UI" or "Apply and restart UI" restarted it).
async function webuiReloadWhenServerIsBack(restarting) {
    if (restarting) {
        await new Promise((resolve) => setTimeout(resolve, 1500));
    }
    for (let attempt = 0; attempt < 600; attempt++) {
        try {
            const response = await fetch("/webui/status", {cache: "no-store"});
            if (response.ok) {
                window.location.reload();
                return;
            }
        } catch (error) {
            // not back yet
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
    }
}
