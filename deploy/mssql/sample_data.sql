-- deploy/mssql/sample_data.sql: a few rows in the mypt_data tables behind the contract views,
-- for the compose setup (compose.yaml) and the real-server integration test. Invented people.
SET NOCOUNT ON;
INSERT INTO mypt_data.MarkType (Mark, Description, Status, IsLate, IsAuthorisedAbsence) VALUES
 (N'/', N'Present', 1, 0, 0), (N'L', N'Late', 1, 1, 0), (N'O', N'Unauthorised absence', 0, 0, 0),
 (N'A', N'Authorised absence', 0, 0, 1), (N'X', N'Not required', 2, 0, 0);
INSERT INTO mypt_data.Course (CourseID, Code, Title, Level, AcademicYear) VALUES
 (N'C1', N'BTEC-IT-L3', N'BTEC Level 3 Extended Diploma in IT', N'3', 2018);
INSERT INTO mypt_data.Student (StudentID, LegalFirstNames, LegalLastName, PreferredName, DateOfBirth, HasEHCP, College, CollegeEmail, ShareInfoConsent, Status, LeftDate) VALUES
 (N'S00001', N'Siobhán', N'O’Neill-Smith', NULL, '2002-03-01', 0, N'Main Site', N's00001@students.example.ac.uk', 0, N'current', NULL),
 (N'S00002', N'José', N'García', N'Pepe', '2001-11-20', 1, N'Main Site', NULL, 1, N'current', NULL);
INSERT INTO mypt_data.Contact (ContactID, StudentID, FirstName, LastName, Relationship, Email, MobilePhone, HomePhone, IsNextOfKin, IsVerifiedContact, HasParentalResponsibility, PortalAccessBarred) VALUES
 (N'P1', N'S00001', N'Maeve', N'O’Neill-Smith', N'Mother', N'maeve@example.org', N'07700 900123', NULL, 1, 1, 1, 0),
 (N'P2', N'S00002', N'Ana', N'García', N'Mother', N'ana@example.org', NULL, NULL, 1, 0, 1, 0);
INSERT INTO mypt_data.Enrolment (EnrolmentID, StudentID, CourseID, StartDate, ExpectedEndDate, ActualEndDate, Status) VALUES
 (N'E1', N'S00001', N'C1', '2018-09-03', '2019-06-28', NULL, N'Active'),
 (N'E2', N'S00002', N'C1', '2018-09-03', '2019-06-28', NULL, N'Active');
INSERT INTO mypt_data.AttendanceMark (MarkID, StudentID, EnrolmentID, SessionDate, StartTime, EndTime, Mark) VALUES
 (N'K1', N'S00001', N'E1', '2019-01-07', '09:00', '10:30', N'/'),
 (N'K2', N'S00001', N'E1', '2019-01-08', '09:00', '10:30', N'O'),
 (N'K3', N'S00002', N'E2', '2019-01-07', '09:00', '10:30', N'L'),
 (N'K4', N'S00002', N'E2', '2019-01-08', '09:00', '10:30', NULL);
INSERT INTO mypt_data.Document (DocumentID, StudentID, Title, Category, CreatedAt, ContentType, Content) VALUES
 (N'D1', N'S00001', N'Progress letter', N'Letters', '2024-07-01T09:00:00', N'text/plain', CAST(N'Dear parent' AS varbinary(max)));
INSERT INTO mypt_data.PolicyRead (PolicyReadID, StudentID, Policy, ReadAt) VALUES
 (N'R1', N'S00001', N'Safeguarding', '2024-01-15T09:00:00');
INSERT INTO mypt_data.Meeting (MeetingID, StudentID, Type, HeldOn, StaffName, Notes) VALUES
 (N'M1', N'S00001', N'Progress Review', '2018-11-12', N'Ms Tutor', N'Good progress.');
INSERT INTO mypt_data.FurtherDetail (StudentID, ConsentForVisits, ConsentForPhotographs, ConsentForMedicalTreatment, ConsentForSharingWithEmployers) VALUES
 (N'S00001', 1, 0, NULL, NULL);
