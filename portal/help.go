package portal

import "net/http"

// helpTopics are the help pages, in the order the index lists them. Each has a template
// templates/help/<slug>.html.
var helpTopics = []helpTopic{
	{"creating-an-account", "Creating an account", "Who can have an account, what to enter on the request form, and what happens next."},
	{"more-than-one-child", "More than one child at the college", "Seeing all your children from one home page."},
	{"logging-in", "Signing in, passwords and locked accounts", "Signing in, forgotten passwords, and what to do if your account locks."},
	{"attendance", "The attendance report", "How to read the report, the key to marks, and who to ask about attendance."},
	{"other-information", "Other information about your child", "Student details, documents, ILP and meetings."},
	{"technical", "Technical advice", "Browsers, phones and downloading the PDF."},
}

type helpTopic struct {
	Slug, Title, Summary string
}

type helpView struct {
	Base
	Topics          []helpTopic
	Topic           helpTopic
	SupportEmail    string
	AttendanceEmail string
	CollegeName     string
	Sites           []string
}

func (s *Server) newHelpView(title string) *helpView {
	v := &helpView{Topics: helpTopics, SupportEmail: s.opts.College.SupportEmail,
		AttendanceEmail: s.opts.College.AttendanceEmail, CollegeName: s.opts.College.Name}
	for _, site := range s.opts.College.Sites {
		v.Sites = append(v.Sites, site.Name)
	}
	v.Title = title
	return v
}

func (s *Server) handleHelp(w http.ResponseWriter, r *http.Request) {
	r = s.withOptionalSession(w, r)
	s.render(w, r, http.StatusOK, "help", s.newHelpView("Help"))
}

func (s *Server) handleHelpTopic(w http.ResponseWriter, r *http.Request) {
	r = s.withOptionalSession(w, r)
	slug := paramsOf(r).ByName("topic")
	for _, t := range helpTopics {
		if t.Slug == slug {
			v := s.newHelpView(t.Title)
			v.Topic = t
			s.render(w, r, http.StatusOK, "help/"+slug, v)
			return
		}
	}
	s.renderStatus(w, r, http.StatusNotFound)
}
