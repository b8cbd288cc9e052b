-- deploy/mssql/01_contract_views.sql: the contract between the college's MIS and mypt.
--
-- GENERATED from adapters/mssql/contract.go; edit that file and run
--   go test ./adapters/mssql -run TestContractSQL -update
--
-- mypt reads only the views in schema [mypt], one per entity, with these column names and types.
-- Every view has RowVer (rowversion, 8 bytes, compared big-endian): mypt reads rows whose RowVer
-- is above its watermark and below MIN_ACTIVE_ROWVERSION(), ordered by RowVer.
--
-- This script also creates typed tables in schema [mypt_data] behind the views, for a college that
-- fills them by ETL (and for deploy/compose's sample). A college on ProSolution runs
-- 02_prosolution_mapping.sql afterwards, which re-points the views at ProSolution's own tables.
--
-- Recommended: ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON;
-- (mypt reads in SNAPSHOT isolation when allowed, else READ COMMITTED with a warning in its log.)

SET ANSI_NULLS ON;
SET QUOTED_IDENTIFIER ON;
GO
IF SCHEMA_ID(N'mypt') IS NULL EXEC(N'CREATE SCHEMA mypt AUTHORIZATION dbo');
GO
IF SCHEMA_ID(N'mypt_data') IS NULL EXEC(N'CREATE SCHEMA mypt_data AUTHORIZATION dbo');
GO

-- mypt.MarkType (entity "mark_type"), key Mark
IF OBJECT_ID(N'mypt_data.MarkType', N'U') IS NULL
CREATE TABLE mypt_data.MarkType (
    [Mark] nvarchar(10) NOT NULL,
    [Description] nvarchar(100) NOT NULL,
    [Status] int NOT NULL,
    [IsLate] bit NOT NULL,
    [IsAuthorisedAbsence] bit NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_MarkType] PRIMARY KEY ([Mark])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_MarkType_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_MarkType_RowVer] ON mypt_data.MarkType ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.MarkType AS
SELECT [Mark], [Description], [Status], [IsLate], [IsAuthorisedAbsence], [RowVer]
FROM mypt_data.MarkType;
GO

-- mypt.Course (entity "course"), key CourseID
IF OBJECT_ID(N'mypt_data.Course', N'U') IS NULL
CREATE TABLE mypt_data.Course (
    [CourseID] nvarchar(40) NOT NULL,
    [Code] nvarchar(40) NOT NULL,
    [Title] nvarchar(200) NOT NULL,
    [Level] nvarchar(40) NULL,
    [AcademicYear] int NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Course] PRIMARY KEY ([CourseID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Course_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Course_RowVer] ON mypt_data.Course ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Course AS
SELECT [CourseID], [Code], [Title], [Level], [AcademicYear], [RowVer]
FROM mypt_data.Course;
GO

-- mypt.Student (entity "student"), key StudentID
IF OBJECT_ID(N'mypt_data.Student', N'U') IS NULL
CREATE TABLE mypt_data.Student (
    [StudentID] nvarchar(40) NOT NULL,
    [LegalFirstNames] nvarchar(200) NOT NULL,
    [LegalLastName] nvarchar(200) NOT NULL,
    [PreferredName] nvarchar(200) NULL,
    [DateOfBirth] date NOT NULL,
    [HasEHCP] bit NOT NULL,
    [College] nvarchar(100) NULL,
    [CollegeEmail] nvarchar(254) NULL,
    [ShareInfoConsent] bit NOT NULL,
    [Status] nvarchar(10) NOT NULL,
    [LeftDate] date NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Student] PRIMARY KEY ([StudentID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Student_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Student_RowVer] ON mypt_data.Student ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Student AS
SELECT [StudentID], [LegalFirstNames], [LegalLastName], [PreferredName], [DateOfBirth], [HasEHCP], [College], [CollegeEmail], [ShareInfoConsent], [Status], [LeftDate], [RowVer]
FROM mypt_data.Student;
GO

-- mypt.Contact (entity "contact"), key ContactID
IF OBJECT_ID(N'mypt_data.Contact', N'U') IS NULL
CREATE TABLE mypt_data.Contact (
    [ContactID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [FirstName] nvarchar(200) NULL,
    [LastName] nvarchar(200) NOT NULL,
    [Relationship] nvarchar(100) NULL,
    [Email] nvarchar(254) NULL,
    [MobilePhone] nvarchar(40) NULL,
    [HomePhone] nvarchar(40) NULL,
    [IsNextOfKin] bit NOT NULL,
    [IsVerifiedContact] bit NOT NULL,
    [HasParentalResponsibility] bit NOT NULL,
    [PortalAccessBarred] bit NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Contact] PRIMARY KEY ([ContactID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Contact_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Contact_RowVer] ON mypt_data.Contact ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Contact AS
SELECT [ContactID], [StudentID], [FirstName], [LastName], [Relationship], [Email], [MobilePhone], [HomePhone], [IsNextOfKin], [IsVerifiedContact], [HasParentalResponsibility], [PortalAccessBarred], [RowVer]
FROM mypt_data.Contact;
GO

-- mypt.Enrolment (entity "enrolment"), key EnrolmentID
IF OBJECT_ID(N'mypt_data.Enrolment', N'U') IS NULL
CREATE TABLE mypt_data.Enrolment (
    [EnrolmentID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [CourseID] nvarchar(40) NOT NULL,
    [StartDate] date NOT NULL,
    [ExpectedEndDate] date NULL,
    [ActualEndDate] date NULL,
    [Status] nvarchar(40) NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Enrolment] PRIMARY KEY ([EnrolmentID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Enrolment_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Enrolment_RowVer] ON mypt_data.Enrolment ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Enrolment AS
SELECT [EnrolmentID], [StudentID], [CourseID], [StartDate], [ExpectedEndDate], [ActualEndDate], [Status], [RowVer]
FROM mypt_data.Enrolment;
GO

-- mypt.Tutor (entity "tutor"), key TutorID
IF OBJECT_ID(N'mypt_data.Tutor', N'U') IS NULL
CREATE TABLE mypt_data.Tutor (
    [TutorID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [EnrolmentID] nvarchar(40) NULL,
    [Name] nvarchar(200) NOT NULL,
    [Role] nvarchar(100) NULL,
    [Email] nvarchar(254) NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Tutor] PRIMARY KEY ([TutorID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Tutor_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Tutor_RowVer] ON mypt_data.Tutor ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Tutor AS
SELECT [TutorID], [StudentID], [EnrolmentID], [Name], [Role], [Email], [RowVer]
FROM mypt_data.Tutor;
GO

-- mypt.AttendanceMark (entity "attendance_mark"), key MarkID
IF OBJECT_ID(N'mypt_data.AttendanceMark', N'U') IS NULL
CREATE TABLE mypt_data.AttendanceMark (
    [MarkID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [EnrolmentID] nvarchar(40) NOT NULL,
    [SessionDate] date NOT NULL,
    [StartTime] time(0) NOT NULL,
    [EndTime] time(0) NOT NULL,
    [Mark] nvarchar(10) NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_AttendanceMark] PRIMARY KEY ([MarkID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_AttendanceMark_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_AttendanceMark_RowVer] ON mypt_data.AttendanceMark ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.AttendanceMark AS
SELECT [MarkID], [StudentID], [EnrolmentID], [SessionDate], [StartTime], [EndTime], [Mark], [RowVer]
FROM mypt_data.AttendanceMark;
GO

-- mypt.Document (entity "document"), key DocumentID
IF OBJECT_ID(N'mypt_data.Document', N'U') IS NULL
CREATE TABLE mypt_data.Document (
    [DocumentID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [Title] nvarchar(200) NOT NULL,
    [Category] nvarchar(100) NULL,
    [CreatedAt] datetime2(0) NOT NULL,
    [ContentType] nvarchar(100) NOT NULL,
    [Content] varbinary(max) NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Document] PRIMARY KEY ([DocumentID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Document_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Document_RowVer] ON mypt_data.Document ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Document AS
SELECT [DocumentID], [StudentID], [Title], [Category], [CreatedAt], [ContentType], [Content], [RowVer]
FROM mypt_data.Document;
GO

-- mypt.Achievement (entity "achievement"), key AchievementID
IF OBJECT_ID(N'mypt_data.Achievement', N'U') IS NULL
CREATE TABLE mypt_data.Achievement (
    [AchievementID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [Qualification] nvarchar(200) NOT NULL,
    [Subject] nvarchar(200) NOT NULL,
    [Grade] nvarchar(20) NULL,
    [AwardDate] date NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Achievement] PRIMARY KEY ([AchievementID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Achievement_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Achievement_RowVer] ON mypt_data.Achievement ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Achievement AS
SELECT [AchievementID], [StudentID], [Qualification], [Subject], [Grade], [AwardDate], [RowVer]
FROM mypt_data.Achievement;
GO

-- mypt.TargetGrade (entity "target_grade"), key EnrolmentID
IF OBJECT_ID(N'mypt_data.TargetGrade', N'U') IS NULL
CREATE TABLE mypt_data.TargetGrade (
    [EnrolmentID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [Grade] nvarchar(20) NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_TargetGrade] PRIMARY KEY ([EnrolmentID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_TargetGrade_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_TargetGrade_RowVer] ON mypt_data.TargetGrade ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.TargetGrade AS
SELECT [EnrolmentID], [StudentID], [Grade], [RowVer]
FROM mypt_data.TargetGrade;
GO

-- mypt.Target (entity "target"), key TargetID
IF OBJECT_ID(N'mypt_data.Target', N'U') IS NULL
CREATE TABLE mypt_data.Target (
    [TargetID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [EnrolmentID] nvarchar(40) NULL,
    [Text] nvarchar(max) NOT NULL,
    [SetBy] nvarchar(200) NULL,
    [CreatedByStudent] bit NOT NULL,
    [SetDate] date NOT NULL,
    [DueDate] date NULL,
    [Status] nvarchar(40) NOT NULL,
    [ReviewedDate] date NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Target] PRIMARY KEY ([TargetID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Target_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Target_RowVer] ON mypt_data.Target ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Target AS
SELECT [TargetID], [StudentID], [EnrolmentID], [Text], [SetBy], [CreatedByStudent], [SetDate], [DueDate], [Status], [ReviewedDate], [RowVer]
FROM mypt_data.Target;
GO

-- mypt.PolicyRead (entity "policy_read"), key PolicyReadID
IF OBJECT_ID(N'mypt_data.PolicyRead', N'U') IS NULL
CREATE TABLE mypt_data.PolicyRead (
    [PolicyReadID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [Policy] nvarchar(200) NOT NULL,
    [ReadAt] datetime NOT NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_PolicyRead] PRIMARY KEY ([PolicyReadID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_PolicyRead_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_PolicyRead_RowVer] ON mypt_data.PolicyRead ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.PolicyRead AS
SELECT [PolicyReadID], [StudentID], [Policy], [ReadAt], [RowVer]
FROM mypt_data.PolicyRead;
GO

-- mypt.Meeting (entity "meeting"), key MeetingID
IF OBJECT_ID(N'mypt_data.Meeting', N'U') IS NULL
CREATE TABLE mypt_data.Meeting (
    [MeetingID] nvarchar(40) NOT NULL,
    [StudentID] nvarchar(40) NOT NULL,
    [Type] nvarchar(100) NOT NULL,
    [HeldOn] date NOT NULL,
    [StaffName] nvarchar(200) NULL,
    [Notes] nvarchar(max) NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_Meeting] PRIMARY KEY ([MeetingID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_Meeting_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_Meeting_RowVer] ON mypt_data.Meeting ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.Meeting AS
SELECT [MeetingID], [StudentID], [Type], [HeldOn], [StaffName], [Notes], [RowVer]
FROM mypt_data.Meeting;
GO

-- mypt.FurtherDetail (entity "further_detail"), key StudentID
IF OBJECT_ID(N'mypt_data.FurtherDetail', N'U') IS NULL
CREATE TABLE mypt_data.FurtherDetail (
    [StudentID] nvarchar(40) NOT NULL,
    [ConsentForVisits] bit NULL,
    [ConsentForPhotographs] bit NULL,
    [ConsentForMedicalTreatment] bit NULL,
    [ConsentForSharingWithEmployers] bit NULL,
    [RowVer] rowversion NOT NULL,
    CONSTRAINT [PK_mypt_data_FurtherDetail] PRIMARY KEY ([StudentID])
);
GO
IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_FurtherDetail_RowVer')
    CREATE UNIQUE INDEX [IX_mypt_data_FurtherDetail_RowVer] ON mypt_data.FurtherDetail ([RowVer]);
GO
CREATE OR ALTER VIEW mypt.FurtherDetail AS
SELECT [StudentID], [ConsentForVisits], [ConsentForPhotographs], [ConsentForMedicalTreatment], [ConsentForSharingWithEmployers], [RowVer]
FROM mypt_data.FurtherDetail;
GO
