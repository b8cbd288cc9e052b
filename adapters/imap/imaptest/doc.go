// Package imaptest starts Debian's dovecot for tests: one private instance per call of Start, on
// free loopback ports, with its configuration, state and Maildir in a temporary directory.
//
// dovecot refuses to run its login and mail processes as root, so the mail user is the non-root
// "dovecot" user the package creates, first_valid_uid is set low enough for it, and base_dir,
// state_dir and mail_location all point into the temporary directory. A static passdb accepts
// any user name with the password Password.
package imaptest
