package portal_test

import "mime"

type mimeWordDecoder = mime.WordDecoder
