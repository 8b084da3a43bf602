"""Tables, the database engine and the migrations."""
