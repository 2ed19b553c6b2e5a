package main

import (
	"math"
	"math/bits"
)

// histogram counts non-negative values (nanoseconds) in log-linear buckets,
// as an HDR histogram does: below 2·histSub every value has a bucket of its
// own, above, each power of two is cut into histSub equal buckets. A bucket
// is then at most 1/histSub of its lowest value wide, and a quantile, read
// as the middle of its bucket, is within half that, 1/256 (0.4 %), of the
// exact value, whatever the number of samples, in a fixed 57 KiB. The
// minimum and maximum are kept exactly.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
	min    int64
	max    int64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits // linear steps per power of two
	histBuckets = (64 - histSubBits) * histSub
	// histPrecision is the largest relative error of a quantile.
	histPrecision = 1.0 / (2 * histSub)
)

// histBucket returns the bucket of v (v ≥ 0).
func histBucket(v int64) int {
	if v < 2*histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - histSubBits - 1
	return shift*histSub + int(uint64(v)>>shift)
}

// histLower returns the smallest value of bucket b.
func histLower(b int) int64 {
	if b < 2*histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	return int64(b%histSub+histSub) << shift
}

// histUpper returns the largest value of bucket b.
func histUpper(b int) int64 {
	if b < 2*histSub {
		return int64(b)
	}
	shift := b/histSub - 1
	top := int64(b%histSub + histSub)
	return (top+1)<<shift - 1
}

// record counts one value; a negative one (a clock step) counts as 0.
func (h *histogram) record(v int64) {
	v = max(v, 0)
	h.counts[histBucket(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.n++
	h.max = max(h.max, v)
}

// merge adds o's samples, as if they had been recorded in h: the shards of
// a run keep their own histograms, merged for each report.
func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// reset empties h, for the next progress interval.
func (h *histogram) reset() { *h = histogram{} }

// quantile returns the value with rank ⌈q·n⌉ among the samples (the nearest
// rank), to within histPrecision: the middle of its bucket, kept between the
// exact minimum and maximum. ok is false when the histogram is empty: there
// is no quantile to report, not a zero.
func (h *histogram) quantile(q float64) (v int64, ok bool) {
	if h.n == 0 {
		return 0, false
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := histLower(b), histUpper(b)
			return min(max(lo+(hi-lo)/2, h.min), h.max), true
		}
	}
	return h.max, true
}

// histBin is one non-empty bucket, for the -json output.
type histBin struct {
	LoNs  int64  `json:"lo_ns"` // smallest value of the bucket
	HiNs  int64  `json:"hi_ns"` // largest value of the bucket
	Count uint64 `json:"count"`
}

// bins lists the non-empty buckets in increasing order.
func (h *histogram) bins() []histBin {
	var out []histBin
	for b, c := range h.counts {
		if c > 0 {
			out = append(out, histBin{LoNs: histLower(b), HiNs: histUpper(b), Count: c})
		}
	}
	return out
}
