"""Read ringside's HdrHistogram files with an independent implementation.

Usage: python3 hdr_interop.py RUN.hlog > figures.json

The interval log is read with the `hdrhistogram` package from PyPI
(HdrHistogram_py: `hdrh.log.HistogramLogReader`, `HdrHistogram.decode`),
which shares no code with the Rust crate ringside writes it with. For each
interval line, in the file's order, it prints what that implementation
finds: the tag, the start (seconds from the log's start time), the count,
min, max, mean, the values at the percentiles of ringside's CSV columns
(`get_value_at_percentile`), and every recorded bucket (its highest
equivalent value and count). Then the same for the sum of the untagged
(corrected) intervals, with that sum's percentile distribution as
HdrHistogram_py's `output_percentile_distribution` writes it (.hgrm text,
values scaled by 1e6: nanoseconds to milliseconds, as ringside's .hgrm).

The Rust test `results/tests/cli/hdr_interop.rs` runs it and compares.
Nothing here judges: it only reads and reports.
"""

import io
import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

PERCENTILES = [50.0, 90.0, 99.0, 99.9, 99.99]


def figures(h):
    return {
        "count": h.get_total_count(),
        "min": h.get_min_value(),
        "max": h.get_max_value(),
        "mean": h.get_mean_value(),
        "percentiles": {str(p): h.get_value_at_percentile(p) for p in PERCENTILES},
        "recorded": [[v.value_iterated_to, v.count_at_value_iterated_to] for v in h.get_recorded_iterator()],
        "lowest_trackable": h.lowest_trackable_value,
        "highest_trackable": h.highest_trackable_value,
        "significant_figures": h.significant_figures,
    }


def main(path):
    # The reference histogram is only for add_next_interval_histogram, which
    # this reader does not use: each interval is decoded on its own.
    reader = HistogramLogReader(path, HdrHistogram(1, 60_000_000_000, 3))
    intervals = []
    total = None
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        entry = figures(h)
        entry["tag"] = h.get_tag()
        entry["start"] = h.get_start_time_stamp() / 1000.0 - reader.get_start_time_sec()
        intervals.append(entry)
        if h.get_tag() is None:
            if total is None:
                total = HdrHistogram(h.lowest_trackable_value, h.highest_trackable_value, h.significant_figures)
            total.add(h)
    reader.close()
    out = {"intervals": intervals}
    if total is not None:
        out["total"] = figures(total)
        hgrm = io.BytesIO()
        total.output_percentile_distribution(hgrm, 1e6)
        out["total_hgrm"] = hgrm.getvalue().decode()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
