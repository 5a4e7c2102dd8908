"""Recall-vs-QPS plots for the ANN comparison scripts (SVG, no plotting library needed)."""
import numpy as np


def pareto(points):
    """Points (recall, qps, label) not dominated by another of the same method."""
    points = sorted(points, key=lambda p: (-p[0], -p[1]))
    front, best = [], -1
    for p in points:
        if p[1] > best:
            front.append(p)
            best = p[1]
    return sorted(front)


def svg_plot(series, path, title):
    width, height, left, right, top, bottom = 760, 480, 70, 220, 40, 60
    pw, ph = width - left - right, height - top - bottom
    all_points = [p for pts in series.values() for p in pts]
    qps = [p[1] for p in all_points]
    lo, hi = np.log10(min(qps)) - 0.05, np.log10(max(qps)) + 0.05
    rlo = max(0.0, min(p[0] for p in all_points) - 0.02)
    x = lambda q: left + (np.log10(q) - lo) / (hi - lo) * pw
    y = lambda r: top + (1 - (r - rlo) / (1.0 - rlo)) * ph
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{title}</text>']
    for e in range(int(np.floor(lo)), int(np.ceil(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= np.log10(v) <= hi:
                out.append(f'<line x1="{x(v):.1f}" y1="{top}" x2="{x(v):.1f}" y2="{top + ph}" stroke="#eee"/>')
                out.append(f'<text x="{x(v):.1f}" y="{top + ph + 18}" text-anchor="middle">{v:,.0f}</text>')
    steps = np.arange(np.ceil(rlo * 20) / 20, 1.0001, 0.05)
    for r in steps:
        out.append(f'<line x1="{left}" y1="{y(r):.1f}" x2="{left + pw}" y2="{y(r):.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{left - 8}" y="{y(r) + 4:.1f}" text-anchor="end">{r:.2f}</text>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 18}" text-anchor="middle">queries per second (log scale)</text>')
    out.append(f'<text x="18" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {top + ph / 2})">recall@10</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = colours[i % len(colours)]
        front = pareto(pts)
        path_points = " ".join(f"{x(q):.1f},{y(r):.1f}" for r, q, _ in sorted(front, key=lambda p: p[1]))
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{path_points}"/>')
        for r, q, _ in pts:
            out.append(f'<circle cx="{x(q):.1f}" cy="{y(r):.1f}" r="3" fill="{c}" fill-opacity="0.6"/>')
        ly = top + 10 + i * 20
        out.append(f'<line x1="{left + pw + 16}" y1="{ly}" x2="{left + pw + 40}" y2="{ly}" stroke="{c}" stroke-width="2"/>')
        out.append(f'<text x="{left + pw + 46}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
