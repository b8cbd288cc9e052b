package syncer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// registerOrReuse registers c on reg and returns it, or returns the collector reg already holds
// under the same descriptors, so a component built twice on one registry does not panic (PM-1).
// A nil reg leaves c unregistered. Any other registration error (a same-named metric with other
// labels) is a programming error caught by the first test that builds the component, so it
// panics like MustRegister.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("syncer: register metric: %v", err))
	}
	return c
}
