// Runs once when the upload report is mounted (gr.HTML js_on_load). Choosing files clears the
// report of the previous upload, also when the browser refuses them (too big, wrong type) and
// no upload event reaches the server: the hidden reset button sets the report to "".
document.addEventListener("change", (event) => {
  const input = event.target;
  if (input instanceof HTMLInputElement && input.type === "file" && input.closest("#nd-upload")) {
    const reset = document.getElementById("nd-report-reset");
    if (reset) reset.click();
  }
}, true);
