package sqlite

import _ "modernc.org/sqlite" // the driver, until the store's Open lands here
