package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// CacheSize returns the bytes the cache at path takes on disk: the database
// file plus its write-ahead log (which holds recent commits until the next
// checkpoint). A missing WAL counts as 0; a missing database is an error.
func CacheSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("sqlite: cache size: %w", err)
	}
	size := fi.Size()
	wal, err := os.Stat(path + "-wal")
	switch {
	case err == nil:
		size += wal.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("sqlite: cache size: %w", err)
	}
	return size, nil
}

var cacheSizeDesc = prometheus.NewDesc("mypt_cache_size_bytes",
	"Size on disk of the SQLite cache: database file plus write-ahead log.", nil, nil)

// sizeCollector measures the files at scrape time, so the value is never stale
// and nothing has to poll.
type sizeCollector struct{ path string }

// NewSizeCollector returns a collector exporting mypt_cache_size_bytes for the
// cache at path, measured on every scrape. If the file cannot be read the
// scrape reports an error for this metric only.
func NewSizeCollector(path string) prometheus.Collector { return sizeCollector{path: path} }

func (c sizeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- cacheSizeDesc }

func (c sizeCollector) Collect(ch chan<- prometheus.Metric) {
	size, err := CacheSize(c.path)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(cacheSizeDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(cacheSizeDesc, prometheus.GaugeValue, float64(size))
}
