package main

import (
	"mypt"
	"mypt/syncer"
)

// addEligibility adds the accounts area's sweep: it re-checks every approved link on a timer
// (accounts.sweep_interval) and ends access that is no longer allowed, emailing the parent;
// it also sends lock notices, applies retention and keeps the account gauges.
func (a *app) addEligibility() error {
	ac := a.cfg.Accounts.WithDefaults()
	e, err := syncer.NewEligibility(syncer.EligibilityOptions{
		Store: a.store, Logger: a.log, Registerer: a.reg, Now: a.now,
		Policy: a.cfg.Eligibility.Policy(),
		Retention: mypt.RetentionPolicy{UnverifiedDays: ac.RetainUnverifiedDays, RejectedDays: ac.RetainRejectedDays,
			NoChildrenDays: ac.RetainNoChildrenDays},
		Mail: mailSettings(a), Interval: ac.SweepInterval,
	})
	if err != nil {
		return err
	}
	a.workers = append(a.workers, worker{name: "eligibility sweep", run: e.Run})
	return nil
}

// mailSettings is what account emails say about the college.
func mailSettings(a *app) mypt.MailSettings {
	return mypt.MailSettings{CollegeName: a.cfg.College.Name, PortalName: a.cfg.College.Name + " Parent Portal",
		SupportEmail: a.cfg.College.SupportEmail, AttendanceEmail: a.cfg.College.AttendanceEmail,
		PublicBaseURL: a.cfg.College.PublicBaseURL}
}
