"""Database: engine and sessions (:mod:`.engine`), models (:mod:`.models`), migrations."""
