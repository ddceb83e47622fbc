"""Reading a bank's results file: the Excel workbook against the CSV, same lines (prints figures, not a test).

    PYTHONPATH=. python bench/results_workbook.py --lines 150000

Measures only the front end (`payments.resultfile.result_lines`: the upload's bytes to the lines the
results import parses), with its guards (package check, size and cell bounds, formula scan): time, the
file sizes and, with --memory, peak Python allocations (tracemalloc: slows the parsing many times). Matching and
reconciliation are the same for both
(bench/cycle.py measures them).
"""

import argparse
import io
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def results(lines):
    day = date(2026, 10, 6).isoformat()
    out = []
    for i in range(lines):
        failed = i % 50 == 0
        out.append(
            f"R,PKH-2026-T4-{i + 1}-1,{225000 * (1 + i % 4)},{'FAILED' if failed else 'CREDITED'},"
            f"{'DORMANT' if failed else ''},{day}\n"
        )
    total = sum(int(line.split(",")[2]) for line in out)
    return [f"H,PKH-2026-T4-BRI,{lines},{total}\n", *out]


def measure(label, data, name, memory=False):
    from payments.resultfile import result_lines

    if memory:  # tracemalloc slows allocation-heavy parsing many times over: only when asked
        tracemalloc.start()
    started = time.perf_counter()
    text = result_lines(data, name)
    count = sum(1 for _ in text)
    seconds = time.perf_counter() - started
    peak = f"  peak {tracemalloc.get_traced_memory()[1] / 1024**2:,.0f} MiB" if memory else ""
    tracemalloc.stop()
    print(
        f"{label:5} {len(data) / 1024**2:7.1f} MiB  {count:,} lines  {seconds:6.2f} s  "
        f"{count / seconds:,.0f} lines/s{peak}"
    )
    return seconds, text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=150_000)
    parser.add_argument("--memory", action="store_true", help="also the peak Python allocations (slow)")
    args = parser.parse_args()
    from integrations.sandbox.paying_bank import results_workbook

    lines = results(args.lines)
    csv_data = "".join(lines).encode()
    book = io.BytesIO()
    results_workbook(lines, book)
    xlsx_data = book.getvalue()
    csv_seconds, csv_text = measure("csv", csv_data, "hasil.csv", args.memory)
    xlsx_seconds, xlsx_text = measure("xlsx", xlsx_data, "hasil.xlsx", args.memory)
    same = csv_text.getvalue() == xlsx_text.getvalue()
    print(f"xlsx / csv time: {xlsx_seconds / csv_seconds:,.0f}x; the same lines: {same}")


if __name__ == "__main__":
    main()
