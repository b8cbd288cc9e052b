-- deploy/mssql/03_readonly_login.sql: the login mypt connects with. It can read the views in
-- schema [mypt] and nothing else.
--
-- Replace the password (mypt reads it from mis.password_file / MYPT_MIS_PASSWORD, never from the
-- config file in clear), and the database name if it is not ProSolution.

-- 1. In master: the login.
USE [master];
GO
IF SUSER_ID(N'mypt_reader') IS NULL
    CREATE LOGIN [mypt_reader] WITH PASSWORD = N'CHANGE-ME-to-a-long-random-secret',
        CHECK_POLICY = ON, CHECK_EXPIRATION = OFF, DEFAULT_DATABASE = [ProSolution];
GO

-- 2. In the MIS database: the user, SELECT on schema mypt only.
USE [ProSolution];
GO
IF USER_ID(N'mypt_reader') IS NULL
    CREATE USER [mypt_reader] FOR LOGIN [mypt_reader] WITH DEFAULT_SCHEMA = [mypt];
GO
GRANT SELECT ON SCHEMA::[mypt] TO [mypt_reader];
GO
-- The views read dbo's tables through ownership chaining (schema mypt is owned by dbo, as 01
-- creates it), so the login needs no right on dbo or mypt_data. Make that explicit:
DENY SELECT, INSERT, UPDATE, DELETE, EXECUTE ON SCHEMA::[dbo] TO [mypt_reader];
IF SCHEMA_ID(N'mypt_data') IS NOT NULL
    EXEC(N'DENY SELECT, INSERT, UPDATE, DELETE ON SCHEMA::[mypt_data] TO [mypt_reader]');
GO

-- 3. Recommended: let mypt read a consistent snapshot without blocking the MIS's writers.
-- Without it mypt falls back to READ COMMITTED and logs a warning on each start.
ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON;
GO

-- mypt connects with encryption on (encrypt=true) and ApplicationIntent=ReadOnly, so an
-- Availability Group can route it to a readable secondary.
