const out = document.getElementById("out");
const source = new EventSource("/dashboard/stream");
source.addEventListener("sample", (e) => { out.textContent = JSON.stringify(JSON.parse(e.data), null, 2); });
