"""The stylesheet every HTML page of the package shares (evaluation, demo and ablation reports)."""

CSS = """
:root { --pred: #ff00ff; --truth: #00c000; --bg: #f6f6f8; --fg: #1d1d22; --muted: #6b6b76; --card: #fff;
        --ok: #1f9d55; --bad: #d64545; --line: #dedee4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; background: var(--bg);
       color: var(--fg); }
header { background: #1d1d22; color: #eee; padding: 18px 28px; }
header h1 { margin: 0 0 6px; font-size: 22px; }
header .facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; font-size: 13px; }
header .facts dt { color: #aaa; } header .facts dd { margin: 0; word-break: break-all; }
main { padding: 10px 28px 40px; max-width: 1500px; }
h2 { margin: 34px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { margin: 22px 0 8px; font-size: 16px; }
nav a { margin-right: 12px; }
table { border-collapse: collapse; background: var(--card); margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #ececf1; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.variant { color: var(--muted); font-size: 12px; max-width: 520px; }
.meta { color: var(--muted); font-size: 13px; }
.chart { background: var(--card); border: 1px solid var(--line); padding: 6px; display: inline-block; }
.key span { display: inline-block; width: 12px; height: 12px; vertical-align: -1px; margin: 0 4px 0 10px; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(370px, 1fr)); gap: 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-top: 4px solid var(--ok); border-radius: 6px;
        padding: 10px; overflow: hidden; }
.card.bad { border-top-color: var(--bad); }
@media (min-width: 900px) { .card.video { grid-column: span 2; } }
.card img { max-width: 100%; height: auto; display: block; margin: 0 auto 8px; border-radius: 3px; }
.card .head { display: flex; justify-content: space-between; gap: 8px; font-weight: 600; }
.card .score { font-variant-numeric: tabular-nums; padding: 0 6px; border-radius: 3px; color: #fff; background: var(--ok); }
.card.bad .score { background: var(--bad); }
.card p { margin: 5px 0; word-wrap: break-word; }
.card .lab { color: var(--muted); font-size: 12px; text-transform: uppercase; margin-right: 4px; }
.card .pred { color: #a000a0; } .card .truth { color: #007a00; }
.card .err { color: var(--bad); }
.card pre { white-space: pre-wrap; word-break: break-word; background: #f1f1f4; padding: 6px; font-size: 12px; max-height: 320px;
            overflow: auto; margin: 4px 0; }
.card ul { margin: 4px 0; padding-left: 20px; }
.nomedia { color: var(--muted); font-style: italic; border: 1px dashed var(--line); padding: 14px; text-align: center; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; }
"""
