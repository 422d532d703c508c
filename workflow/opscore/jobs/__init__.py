"""What a TensorFlow job starts from (``context``) and the one door every derived kind goes
through (``derivation``)."""
