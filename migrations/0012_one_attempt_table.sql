-- Guesses with a personal access token are counted in attempt_windows, like
-- sign-in failures and wrong user codes (package limits).
DROP TABLE personal_access_token_guesses;
