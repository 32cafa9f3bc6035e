-- school: teachers, students, courses and enrollments (a bundled text-to-SQL database written for lmforge).
CREATE TABLE teacher (id INTEGER PRIMARY KEY, name TEXT, subject TEXT, hire_year INTEGER, salary INTEGER);
CREATE TABLE student (id INTEGER PRIMARY KEY, name TEXT, grade INTEGER, age INTEGER, city TEXT);
CREATE TABLE course (id INTEGER PRIMARY KEY, title TEXT, teacher_id INTEGER REFERENCES teacher(id), credits INTEGER);
CREATE TABLE enrollment (student_id INTEGER REFERENCES student(id), course_id INTEGER REFERENCES course(id), score INTEGER);
INSERT INTO teacher VALUES
  (1, 'Alice Moore', 'Math', 2010, 52000),
  (2, 'Brian Chen', 'Physics', 2015, 48000),
  (3, 'Carla Diaz', 'History', 2008, 55000),
  (4, 'David Kim', 'Math', 2019, 41000),
  (5, 'Emma Stone', 'Biology', 2012, 50000),
  (6, 'Frank Olsen', 'Art', 2021, 39000);
INSERT INTO student VALUES
  (1, 'Liam', 9, 14, 'Boston'),
  (2, 'Olivia', 10, 15, 'Chicago'),
  (3, 'Noah', 11, 16, 'Boston'),
  (4, 'Ava', 12, 17, 'Denver'),
  (5, 'Mia', 9, 14, 'Chicago'),
  (6, 'Lucas', 10, 16, 'Austin'),
  (7, 'Sophia', 11, 16, 'Boston'),
  (8, 'Ethan', 12, 18, 'Denver'),
  (9, 'Isabella', 10, 15, 'Austin'),
  (10, 'Mason', 11, 17, 'Chicago'),
  (11, 'Harper', 9, 14, 'Austin');
INSERT INTO course VALUES
  (1, 'Algebra', 1, 4),
  (2, 'Geometry', 4, 3),
  (3, 'Mechanics', 2, 4),
  (4, 'World History', 3, 3),
  (5, 'Genetics', 5, 4),
  (6, 'Drawing', 6, 2),
  (7, 'Calculus', 1, 5);
INSERT INTO enrollment VALUES
  (1, 1, 88), (1, 4, 75), (2, 1, 92), (2, 3, 81), (3, 3, 67), (3, 7, 90),
  (4, 5, 95), (4, 7, 85), (5, 2, 78), (5, 6, 99), (6, 4, 58), (6, 1, 73),
  (7, 5, 88), (7, 3, 91), (8, 7, 62), (8, 4, 80), (9, 6, 84), (10, 2, 70);
