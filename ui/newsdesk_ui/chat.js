// Runs once when the chat is mounted (gr.HTML js_on_load): `element` is the chat's container.
// Citation chips open their passage in the sources panel; copy buttons fill the clipboard.
function showCitation(turn, cite) {
  const panel = document.getElementById("nd-sources");
  if (!panel) return;
  let target = null;
  for (const section of panel.querySelectorAll(".nd-turn-sources")) {
    const current = section.dataset.turn === turn;
    section.hidden = !current;
    for (const source of section.querySelectorAll("details.nd-source")) {
      const chosen = current && source.dataset.cite === cite;
      source.open = chosen;
      source.classList.toggle("nd-active", chosen);
      if (chosen) target = source;
    }
  }
  if (target) (target.querySelector("mark") || target).scrollIntoView({ block: "center" });
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // plain http on a non-loopback address has no clipboard API
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

element.addEventListener("click", (event) => {
  const chip = event.target.closest("button.nd-chip");
  if (chip) {
    showCitation(chip.dataset.turn, chip.dataset.cite);
    return;
  }
  const copy = event.target.closest("button.nd-copy");
  if (copy) {
    copyText(copy.dataset.copy).then(
      () => { copy.textContent = "Copied"; },
      () => { copy.textContent = "Copy failed"; },
    );
    setTimeout(() => { copy.textContent = "Copy answer with sources"; }, 2000);
  }
});
