-- shop: customers, products, orders and order lines (a bundled text-to-SQL database written for lmforge).
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, country TEXT, joined_year INTEGER);
CREATE TABLE product (id INTEGER PRIMARY KEY, name TEXT, category TEXT, price REAL, stock INTEGER);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), order_year INTEGER);
CREATE TABLE order_item (order_id INTEGER REFERENCES orders(id), product_id INTEGER REFERENCES product(id), quantity INTEGER);
INSERT INTO customer VALUES
  (1, 'Anna', 'France', 2019),
  (2, 'Ben', 'Germany', 2020),
  (3, 'Chloe', 'France', 2021),
  (4, 'Daniel', 'Spain', 2018),
  (5, 'Eva', 'Germany', 2022),
  (6, 'Felix', 'Italy', 2020),
  (7, 'Grace', 'Spain', 2023);
INSERT INTO product VALUES
  (1, 'Laptop', 'Electronics', 999.0, 5),
  (2, 'Phone', 'Electronics', 599.0, 12),
  (3, 'Desk', 'Furniture', 250.0, 3),
  (4, 'Chair', 'Furniture', 120.0, 20),
  (5, 'Lamp', 'Furniture', 35.5, 40),
  (6, 'Headphones', 'Electronics', 150.0, 0),
  (7, 'Notebook', 'Stationery', 2.5, 300),
  (8, 'Pen', 'Stationery', 1.2, 500),
  (9, 'Stapler', 'Stationery', 8.0, 25);
INSERT INTO orders VALUES
  (1, 1, 2021), (2, 2, 2021), (3, 1, 2022), (4, 3, 2022), (5, 4, 2022),
  (6, 5, 2023), (7, 2, 2023), (8, 6, 2023), (9, 1, 2023), (10, 4, 2024);
INSERT INTO order_item VALUES
  (1, 1, 1), (1, 7, 10), (2, 2, 2), (3, 4, 4), (3, 5, 2), (4, 8, 50),
  (5, 3, 1), (5, 4, 2), (6, 6, 1), (7, 1, 1), (7, 8, 20), (8, 5, 3),
  (9, 2, 1), (9, 7, 5), (10, 4, 6);
