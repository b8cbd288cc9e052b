package synth

// Names are chosen to exercise what real MIS data holds: accents, curly and straight
// apostrophes, hyphens and particles. The first few students always carry the hard ones.
var firstNames = []string{
	"Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Isabella", "Rosie", "Sophia",
	"Grace", "Freya", "Willow", "Emily", "Ella", "Poppy", "Evie", "Aisha", "Zara", "Maryam",
	"Noah", "Muhammad", "George", "Oliver", "Leo", "Arthur", "Oscar", "Harry", "Jack", "Charlie",
	"Freddie", "Theo", "Alfie", "Jacob", "Thomas", "Reuben", "Kwame", "Tobi", "Chidi", "Rohan",
	"Aarav", "Priya", "Ananya", "Kacper", "Zofia", "Mateusz", "Chloë", "Zoë", "Renée", "Niamh",
	"Saoirse", "Ciarán", "Seán", "Aoife", "Joséphine", "Ana-María", "Jean-Luc", "Maëlle", "Dawid", "Nuno",
}

var lastNames = []string{
	"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson",
	"Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall",
	"Okafor", "Adeyemi", "Mensah", "Patel", "Shah", "Begum", "Khan", "Hussain", "Ahmed", "Nowak",
	"Kowalski", "Silva", "Santos", "Murphy", "O'Brien", "O’Connor", "McCarthy", "Fitzgerald", "van der Berg", "de Souza",
	"Nguyen", "Chen", "Kaur", "Singh", "Campbell", "Stewart", "Clarke", "Lewis-Hamilton", "Ní Bhriain", "Müller",
}

// fixedStudents open the roll so tests and the demo always meet these names.
var fixedStudents = []struct{ first, last, preferred string }{
	{"Siobhán", "O’Neill-Smith", ""}, // the seed-table student
	{"José", "Fernández", ""},
	{"Marcus", "D'Arcy", ""},
	{"Chloë Anne", "D'Arcy", "Chloe"}, // Marcus's sister: the demo parent with two children
	{"Mary-Kate", "Ó Súilleabháin", "Katie"},
}

var parentFirstNames = []string{
	"Sarah", "Claire", "Helen", "Joanne", "Nicola", "Lisa", "Fatima", "Grace", "Agnieszka", "Mei",
	"David", "Paul", "Mark", "Andrew", "Richard", "Sanjay", "Emeka", "Tomasz", "Liam", "Hassan",
}

var staffNames = []string{
	"Ms R. Ahmed", "Mr J. Barker", "Mrs K. Chowdhury", "Dr P. Delaney", "Mr T. Evans", "Ms L. Fraser",
	"Mrs A. Green", "Mr S. Hussain", "Ms N. Ibrahim", "Mr D. Jackson", "Mrs E. Kowalczyk", "Mr O. Lewis",
	"Ms F. Mensah", "Mr G. Nolan", "Mrs H. O'Donnell", "Mr I. Patel", "Ms J. Quinn", "Mr K. Robinson",
	"Mrs M. Singh", "Mr B. Turner", "Ms C. Underwood", "Mr V. Varga", "Mrs W. Walsh", "Mr Y. Yusuf",
}

var gcseSubjects = []string{
	"English Language", "English Literature", "Mathematics", "Combined Science", "History",
	"Geography", "Art and Design", "Religious Studies", "French", "Spanish", "Computer Science",
	"Design and Technology", "Physical Education", "Music", "Drama", "Business",
}

var policies = []string{
	"Student Code of Conduct", "Safeguarding and Prevent", "IT Acceptable Use", "Attendance and Punctuality",
	"Equality, Diversity and Inclusion", "Health and Safety",
}

type courseSpec struct {
	code, title, level string
	sessions           int // per week
}

// programmes are main study programmes; every student is on one.
var programmes = []courseSpec{
	{"ALBIO", "A Level Biology", "Level 3", 3},
	{"ALPSY", "A Level Psychology", "Level 3", 3},
	{"ALMAT", "A Level Mathematics", "Level 3", 3},
	{"BTSPT", "BTEC Level 3 Extended Diploma in Sport", "Level 3", 4},
	{"BTBUS", "BTEC Level 3 National Extended Certificate in Business", "Level 3", 3},
	{"TLDIG", "T Level in Digital Production, Design and Development", "Level 3", 4},
	{"HAIR2", "Level 2 Diploma in Women's Hairdressing", "Level 2", 3},
	{"HSC2", "Level 2 Diploma in Health and Social Care", "Level 2", 3},
	{"CONS1", "Level 1 Diploma in Construction Skills", "Level 1", 3},
	{"MVEH1", "Level 1 Certificate in Motor Vehicle Maintenance", "Level 1", 3},
	{"ESOL1", "ESOL Skills for Life Entry 3", "Entry Level", 3},
	{"SIND", "Skills for Independence and Work", "Entry Level", 3},
}

// resits are the GCSE English and maths that students without a grade 4 must take.
var resits = []courseSpec{
	{"GCENG", "GCSE English Language", "Level 2", 1},
	{"GCMAT", "GCSE Mathematics", "Level 2", 1},
}

var slots = []struct{ start, end string }{
	{"09:00", "10:30"}, {"10:45", "12:15"}, {"13:00", "14:30"}, {"14:45", "16:15"},
}
