-- deploy/mssql/02_prosolution_mapping.sql: the mypt views mapped onto ProSolution's tables.
--
-- ***************************************************************************************
-- *  A STARTING POINT TO REVIEW WITH THE COLLEGE'S MIS TEAM, NOT A FINISHED SCRIPT.      *
-- *  Only the table and column names marked [known] come from ProSolution's public       *
-- *  documentation; everything marked [REVIEW] is a guess at the college's schema and    *
-- *  must be checked (names, codes, which rows parents may see) before it is run.        *
-- ***************************************************************************************
--
-- Run after 01_contract_views.sql, in the ProSolution database. It only (re)creates views in
-- schema [mypt]; it never changes ProSolution's data.
--
-- RowVer. mypt reads incrementally by rowversion. ProSolution's tables do not all carry a
-- rowversion column; the college (with its vendor's agreement) adds one where missing, e.g.
--     ALTER TABLE dbo.StudentDetail ADD mypt_RowVer rowversion;             -- [REVIEW]
-- A view over several tables exposes the greatest of their rowversions, so a change to any of
-- them is picked up. Such a computed RowVer cannot use an index: for the big views (attendance)
-- prefer one base table's rowversion, or an indexed view, after measuring.
-- Without any rowversion, set mis.queries.<entity> in mypt's config to a query that returns every
-- row with RowVer = 0x0000000000000001 and rely on the nightly reconciliation (slower, but safe).
--
-- Dates and times: datetime values are London wall-clock time (mypt converts them to UTC).

SET ANSI_NULLS ON;
SET QUOTED_IDENTIFIER ON;
GO

-- Students. [known] StudentDetail: RefNo, FirstForename, Surname, DateOfBirth,
-- HasEducationHealthCarePlan, AcceptShareInfoConsent. [REVIEW] the rest.
CREATE OR ALTER VIEW mypt.Student AS
SELECT
    CAST(sd.RefNo AS nvarchar(40))                      AS [StudentID],
    CAST(sd.FirstForename AS nvarchar(200))             AS [LegalFirstNames],   -- [REVIEW] add OtherForenames?
    CAST(sd.Surname AS nvarchar(200))                   AS [LegalLastName],
    CAST(sd.KnownAs AS nvarchar(200))                   AS [PreferredName],     -- [REVIEW]
    CAST(sd.DateOfBirth AS date)                        AS [DateOfBirth],
    CAST(ISNULL(sd.HasEducationHealthCarePlan, 0) AS bit) AS [HasEHCP],
    CAST(si.Description AS nvarchar(100))               AS [College],           -- [REVIEW] site
    CAST(sd.CollegeEmail AS nvarchar(254))              AS [CollegeEmail],      -- [REVIEW]
    CAST(ISNULL(sd.AcceptShareInfoConsent, 0) AS bit)   AS [ShareInfoConsent],
    CAST(CASE WHEN sd.LeavingDate IS NULL THEN N'current' ELSE N'left' END AS nvarchar(10)) AS [Status], -- [REVIEW]
    CAST(sd.LeavingDate AS date)                        AS [LeftDate],          -- [REVIEW]
    sd.mypt_RowVer                                      AS [RowVer]
FROM dbo.StudentDetail AS sd
LEFT JOIN dbo.Site AS si ON si.SiteID = sd.SiteID;                              -- [REVIEW]
GO

-- Mark types. [known] MarkType: MarkTypeStatusID (1 present, 0 absent, 2 neutral), IsLate,
-- IsAuthorisedAbsence. [REVIEW] the code and description columns.
CREATE OR ALTER VIEW mypt.MarkType AS
SELECT
    CAST(mt.Code AS nvarchar(10))               AS [Mark],                      -- [REVIEW]
    CAST(mt.Description AS nvarchar(100))       AS [Description],               -- [REVIEW]
    CAST(mt.MarkTypeStatusID AS int)            AS [Status],
    CAST(ISNULL(mt.IsLate, 0) AS bit)           AS [IsLate],
    CAST(ISNULL(mt.IsAuthorisedAbsence, 0) AS bit) AS [IsAuthorisedAbsence],
    mt.mypt_RowVer                              AS [RowVer]
FROM dbo.MarkType AS mt;
GO

-- Courses. [known] Offering. [REVIEW] columns.
CREATE OR ALTER VIEW mypt.Course AS
SELECT
    CAST(o.OfferingID AS nvarchar(40))          AS [CourseID],
    CAST(o.Code AS nvarchar(40))                AS [Code],                      -- [REVIEW]
    CAST(o.Name AS nvarchar(200))               AS [Title],                     -- [REVIEW]
    CAST(o.QualificationLevel AS nvarchar(40))  AS [Level],                     -- [REVIEW]
    CAST(LEFT(o.AcademicYearID, 4) AS int)      AS [AcademicYear],              -- [REVIEW] '18/19' style?
    o.mypt_RowVer                               AS [RowVer]
FROM dbo.Offering AS o;
GO

-- Enrolments. [known] Enrolment, Offering. [REVIEW] columns and status codes.
CREATE OR ALTER VIEW mypt.Enrolment AS
SELECT
    CAST(e.EnrolmentID AS nvarchar(40))         AS [EnrolmentID],
    CAST(sd.RefNo AS nvarchar(40))              AS [StudentID],
    CAST(e.OfferingID AS nvarchar(40))          AS [CourseID],
    CAST(e.StartDate AS date)                   AS [StartDate],
    CAST(e.ExpectedEndDate AS date)             AS [ExpectedEndDate],
    CAST(e.ActualEndDate AS date)               AS [ActualEndDate],
    CAST(es.Description AS nvarchar(40))        AS [Status],                    -- [REVIEW]
    (SELECT MAX(v) FROM (VALUES (e.mypt_RowVer), (sd.mypt_RowVer)) AS r(v)) AS [RowVer]
FROM dbo.Enrolment AS e
JOIN dbo.StudentDetail AS sd ON sd.StudentDetailID = e.StudentDetailID
LEFT JOIN dbo.EnrolmentStatus AS es ON es.EnrolmentStatusID = e.EnrolmentStatusID;
GO

-- Attendance. [known] RegisterMark, RegisterSession, RegisterStudent. [REVIEW] join columns.
-- The biggest view: RowVer is RegisterMark's own so an index on it can be used.
CREATE OR ALTER VIEW mypt.AttendanceMark AS
SELECT
    CAST(rm.RegisterMarkID AS nvarchar(40))     AS [MarkID],
    CAST(sd.RefNo AS nvarchar(40))              AS [StudentID],
    CAST(rs.EnrolmentID AS nvarchar(40))        AS [EnrolmentID],               -- [REVIEW]
    CAST(ses.SessionDate AS date)               AS [SessionDate],               -- [REVIEW]
    CAST(ses.StartTime AS time(0))              AS [StartTime],
    CAST(ses.EndTime AS time(0))                AS [EndTime],
    CAST(mt.Code AS nvarchar(10))               AS [Mark],                      -- NULL = not yet marked
    rm.mypt_RowVer                              AS [RowVer]
FROM dbo.RegisterMark AS rm
JOIN dbo.RegisterStudent AS rs ON rs.RegisterStudentID = rm.RegisterStudentID
JOIN dbo.RegisterSession AS ses ON ses.RegisterSessionID = rm.RegisterSessionID
JOIN dbo.StudentDetail AS sd ON sd.StudentDetailID = rs.StudentDetailID
LEFT JOIN dbo.MarkType AS mt ON mt.MarkTypeID = rm.MarkTypeID;
GO

-- Contacts, tutors, documents, achievements, target grades, targets, policies read, meetings and
-- further details: ProSolution (and its ProMonitor ILP module) keeps these in tables whose names
-- vary by version and licence. [REVIEW] Until mapped, these views stay on 01's mypt_data tables,
-- which the college may fill by ETL; or set mis.queries.<entity> in mypt's config.
