package deploy

// planMetric is one row of the metric table in the team plan: the names every
// component exports and every alert, dashboard panel and test here relies on.
type planMetric struct {
	name   string
	typ    string // counter, gauge, histogram
	labels []string
	// values lists the known values of a label, exported at 0 from start-up
	// (PM-2); a label missing here takes free-form bounded values (route, version).
	values map[string][]string
}

var planEntities = []string{
	"student", "contact", "course", "enrolment", "tutor", "mark_type", "attendance_mark",
	"document", "achievement", "target_grade", "target", "policy_read", "meeting", "further_detail",
}

var planMetrics = []planMetric{
	{name: "mypt_build_info", typ: "gauge", labels: []string{"version", "goversion"}},
	{name: "mypt_sync_passes_total", typ: "counter", labels: []string{"entity", "result"},
		values: map[string][]string{"entity": planEntities, "result": {"success", "failure"}}},
	{name: "mypt_sync_rows_total", typ: "counter", labels: []string{"entity", "op", "result"},
		values: map[string][]string{"entity": planEntities, "op": {"upsert", "delete"}, "result": {"applied", "rejected"}}},
	{name: "mypt_sync_pass_duration_seconds", typ: "histogram", labels: []string{"entity"},
		values: map[string][]string{"entity": planEntities}},
	{name: "mypt_sync_last_success_timestamp_seconds", typ: "gauge", labels: []string{"entity"},
		values: map[string][]string{"entity": planEntities}},
	{name: "mypt_sync_watermark_age_seconds", typ: "gauge", labels: []string{"entity"},
		values: map[string][]string{"entity": planEntities}},
	{name: "mypt_reconcile_deletes_total", typ: "counter", labels: []string{"entity"},
		values: map[string][]string{"entity": planEntities}},
	{name: "mypt_push_batches_total", typ: "counter", labels: []string{"result"},
		values: map[string][]string{"result": {"applied", "duplicate", "invalid", "refused", "unauthorized", "too_large"}}},
	{name: "mypt_push_rows_total", typ: "counter", labels: []string{"entity", "op", "result"},
		values: map[string][]string{"entity": planEntities, "op": {"upsert", "delete"}, "result": {"applied", "rejected"}}},
	{name: "mypt_http_requests_total", typ: "counter", labels: []string{"listener", "route", "method", "code"},
		values: map[string][]string{"listener": {"public", "internal"}, "code": {"2xx", "3xx", "4xx", "5xx"}}},
	{name: "mypt_http_request_duration_seconds", typ: "histogram", labels: []string{"listener", "route"},
		values: map[string][]string{"listener": {"public", "internal"}}},
	{name: "mypt_signins_total", typ: "counter", labels: []string{"result"},
		values: map[string][]string{"result": {"success", "failure", "locked", "rate_limited"}}},
	{name: "mypt_lockouts_total", typ: "counter"},
	{name: "mypt_accounts", typ: "gauge", labels: []string{"state"},
		values: map[string][]string{"state": {"active", "locked", "no_children"}}},
	{name: "mypt_account_requests_pending", typ: "gauge", labels: []string{"stage"},
		values: map[string][]string{"stage": {"unverified", "awaiting_consent", "awaiting_staff"}}},
	{name: "mypt_mailbox_connected", typ: "gauge"},
	{name: "mypt_mailbox_last_activity_timestamp_seconds", typ: "gauge"},
	{name: "mypt_mailbox_messages_total", typ: "counter", labels: []string{"outcome"},
		values: map[string][]string{"outcome": {"unlocked", "review", "duplicate", "error"}}},
	{name: "mypt_outbox_pending", typ: "gauge"},
	{name: "mypt_outbox_sent_total", typ: "counter", labels: []string{"transport"},
		values: map[string][]string{"transport": {"smtp", "graph", "file"}}},
	{name: "mypt_outbox_failed_total", typ: "counter", labels: []string{"transport"},
		values: map[string][]string{"transport": {"smtp", "graph", "file"}}},
	{name: "mypt_cache_size_bytes", typ: "gauge"},
}

// planMetricByName finds a metric by its exposed name, accepting a
// histogram's _bucket, _sum and _count series.
func planMetricByName(name string) (planMetric, bool) {
	for _, m := range planMetrics {
		if m.name == name {
			return m, true
		}
		if m.typ == "histogram" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if name == m.name+suffix {
					return m, true
				}
			}
		}
	}
	return planMetric{}, false
}
