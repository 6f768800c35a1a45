/** The one stylesheet of the hosted pages (served from /assets so the CSP needs no inline styles). */
export const STYLESHEET = `
:root{--bg:#f4f5f7;--card:#fff;--text:#1d2330;--muted:#5b6475;--accent:#3b5bdb;--accent-dark:#2f4ac0;--on-accent:#fff;--danger:#c92a2a;--border:#d8dce3;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);line-height:1.5;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:flex-start}
main{width:100%;max-width:420px;margin:6vh 16px 32px;background:var(--card);border:1px solid var(--border);border-radius:12px;padding:32px 28px;box-shadow:0 4px 24px rgba(20,30,60,.06)}
main.wide{max-width:640px}
.brand{display:flex;align-items:center;gap:10px;font-weight:700;letter-spacing:.04em;color:var(--accent);margin:0 0 20px;font-size:1.05rem;min-width:0}
.brand-logo{display:block;max-height:40px;max-width:160px;width:auto;height:auto}.brand-name{overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:0 0 8px}
p.lead{color:var(--muted);margin:0 0 24px}
label{display:block;font-weight:600;margin:16px 0 6px;font-size:.95rem}
input[type=text],input[type=password],input[type=email],input[type=tel],select{width:100%;padding:10px 12px;border:1px solid var(--border);border-radius:8px;font-size:1rem}
input:focus{outline:2px solid var(--accent);outline-offset:1px;border-color:var(--accent)}
button,.button{display:inline-block;width:100%;margin-top:24px;padding:11px 16px;border:0;border-radius:8px;background:var(--accent);color:var(--on-accent);font-size:1rem;font-weight:600;cursor:pointer;text-align:center;text-decoration:none}
button:hover,.button:hover{background:var(--accent-dark)}
button.secondary{background:transparent;color:var(--muted);border:1px solid var(--border);margin-top:12px}
.alert{background:#fff5f5;border:1px solid #ffc9c9;color:var(--danger);padding:10px 12px;border-radius:8px;margin:0 0 8px}
.field-error{color:var(--danger);font-size:.9rem;margin:4px 0 0}
.hint{color:var(--muted);font-size:.85rem;margin:4px 0 0}
.notice{background:#f1f6ff;border:1px solid #c5d8ff;color:#1d3f8f;padding:10px 12px;border-radius:8px;margin:0 0 8px}
input[aria-invalid=true]{border-color:var(--danger)}
.links{margin-top:20px;display:flex;justify-content:space-between;flex-wrap:wrap;gap:8px;font-size:.95rem}
nav.tabs{display:flex;gap:6px 18px;flex-wrap:wrap;align-items:baseline;margin:0 0 24px;border-bottom:1px solid var(--border);padding-bottom:10px}
nav.tabs a{white-space:nowrap;text-decoration:none}nav.tabs a:hover{text-decoration:underline}
nav.tabs a[aria-current=page]{font-weight:700;color:var(--text);text-decoration:underline;text-decoration-color:var(--accent);text-decoration-thickness:3px;text-underline-offset:12px}
nav.tabs .tabs-end{display:flex;gap:18px;margin-left:auto}
main.account{max-width:960px}main.account form{max-width:520px}main.account td form{max-width:none}
.code-actions{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center;margin:8px 0 0}.code-actions .button,.code-actions button{font-size:.9rem;padding:6px 14px;color:var(--accent);font-weight:600}
.button.secondary{background:transparent;color:var(--accent);border:1px solid var(--border)}.button.secondary:hover{background:#eef0f4}
a.button.inline,button.inline{width:auto;margin:0;padding:6px 12px;font-size:.9rem}
.offscreen{position:fixed;left:-9999px;top:0}
.signed-in-as{color:var(--muted);font-size:.95rem;margin:0 0 16px}
.signed-in-as form{display:inline}button.link{display:inline;width:auto;margin:0;padding:0;background:none;border:0;color:var(--accent);font:inherit;text-decoration:underline;cursor:pointer}button.link:hover{background:none}
table{width:100%;border-collapse:collapse;font-size:.95rem}th,td{text-align:left;padding:8px 4px;border-bottom:1px solid var(--border);vertical-align:top}
button.inline{width:auto;margin:0;padding:6px 12px;font-size:.9rem}
ul.scopes{padding-left:20px}
img.client-logo{display:block;width:64px;height:64px;object-fit:contain;margin:0 0 12px}
.client-links{justify-content:flex-start}
footer{color:var(--muted);font-size:.85rem;margin-bottom:24px}
code{background:#eef0f4;padding:1px 5px;border-radius:4px}
a{color:var(--accent)}
h2{font-size:1.1rem;margin:24px 0 6px}
.badge{display:inline-block;font-size:.8rem;padding:1px 8px;border-radius:999px;background:#eef0f4;color:var(--muted);vertical-align:middle}
.badge.ok{background:#e6f6ec;color:#1e6b3a}
ul.items{list-style:none;padding:0;margin:0 0 8px}ul.items>li{border:1px solid var(--border);border-radius:8px;padding:12px 16px;margin:0 0 12px}ul.items h2{margin:0 0 6px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0 0 12px;font-size:.95rem}dt{color:var(--muted)}dd{margin:0}
article.outbox{border-top:1px solid var(--border);padding-top:8px}article.outbox pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f8fa;padding:10px 12px;border-radius:8px;font-size:.9rem}
img.qr{display:block;width:200px;height:200px;margin:8px 0 12px;image-rendering:pixelated}
code.secret{font-size:1.05rem;letter-spacing:.05em;overflow-wrap:anywhere}
ol.codes{columns:2;font-family:ui-monospace,monospace;padding-left:24px}
details{margin-top:16px}details>summary{cursor:pointer;color:var(--accent)}
@media (max-width:480px){main{margin:0;border-radius:0;border-left:0;border-right:0;min-height:100vh}}
`;
