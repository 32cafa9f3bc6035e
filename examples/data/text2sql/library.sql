-- library: authors, books, members and loans (a bundled text-to-SQL database written for lmforge).
CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT, birth_year INTEGER, nationality TEXT);
CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER REFERENCES author(id), published_year INTEGER, pages INTEGER, genre TEXT);
CREATE TABLE member (id INTEGER PRIMARY KEY, name TEXT, city TEXT, member_since INTEGER);
CREATE TABLE loan (id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES book(id), member_id INTEGER REFERENCES member(id), loan_year INTEGER, returned INTEGER);
INSERT INTO author VALUES
  (1, 'Maria Lopez', 1950, 'Mexico'),
  (2, 'John Carter', 1972, 'USA'),
  (3, 'Yuki Tanaka', 1985, 'Japan'),
  (4, 'Peter Novak', 1961, 'Czechia'),
  (5, 'Sara Berg', 1990, 'Sweden');
INSERT INTO book VALUES
  (1, 'Desert Wind', 1, 1980, 320, 'Novel'),
  (2, 'Quiet River', 1, 1995, 210, 'Poetry'),
  (3, 'Steel City', 2, 2005, 450, 'Thriller'),
  (4, 'Night Train', 2, 2012, 380, 'Thriller'),
  (5, 'Paper Moon', 3, 2015, 190, 'Novel'),
  (6, 'Cherry Garden', 3, 2020, 260, 'Poetry'),
  (7, 'Old Bridge', 4, 1999, 510, 'History'),
  (8, 'Northern Lights', 5, 2021, 300, 'Novel'),
  (9, 'Cold Case', 2, 2018, 410, 'Thriller'),
  (10, 'Silent Shore', 5, 2023, 240, 'Novel');
INSERT INTO member VALUES
  (1, 'Tom', 'Oslo', 2015),
  (2, 'Lena', 'Berlin', 2018),
  (3, 'Omar', 'Oslo', 2020),
  (4, 'Kate', 'Madrid', 2016),
  (5, 'Ivan', 'Berlin', 2022),
  (6, 'Nina', 'Rome', 2019);
INSERT INTO loan VALUES
  (1, 1, 1, 2021, 1), (2, 3, 1, 2022, 1), (3, 4, 2, 2022, 0), (4, 5, 3, 2023, 1),
  (5, 7, 4, 2021, 1), (6, 3, 2, 2023, 0), (7, 8, 5, 2023, 1), (8, 9, 6, 2024, 0),
  (9, 1, 3, 2024, 1), (10, 6, 4, 2022, 1), (11, 3, 6, 2024, 1), (12, 2, 1, 2023, 0);
