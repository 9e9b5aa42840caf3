// Stand-in for the grafana/grafana image's `grafana` binary (server and cli), written from the
// behaviour polysource depends on (shared/reference/images/NOTES.md and Grafana's HTTP API
// documentation), not from Grafana's code:
//
//   - the admin account (user id 1) is created from GF_SECURITY_ADMIN_USER/PASSWORD on the first
//     start only; later starts ignore both variables;
//   - `grafana cli admin reset-admin-password --password-from-stdin` sets user id 1's password,
//     refuses one shorter than 4 characters, and, like Grafana 11.x on several failure paths,
//     prints success and exits 0 while changing nothing when there is no user id 1;
//   - GET /api/health, GET /api/user (basic auth), GET and PUT /api/users/:id and POST
//     /api/admin/users (a server admin's basic auth) answer as Grafana's HTTP API does;
//   - SIGTERM stops the server at once, as Grafana's graceful shutdown does when idle; it logs
//     "Starting Grafana" and "Shutdown started" as Grafana does (status reads them).
//
// The state is a JSON file in the data volume (/var/lib/grafana/grafana.db), re-read on every
// request, so the server and the cli see one another's changes.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

const db = "/var/lib/grafana/grafana.db"

type User struct {
	ID       int    `json:"id"`
	Login    string `json:"login"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"` // sha256 hex
	Admin    bool   `json:"isGrafanaAdmin"`
}

type State struct {
	Users []User `json:"users"`
}

func digest(password string) string {
	sum := sha256.Sum256([]byte(password))
	return hex.EncodeToString(sum[:])
}

func load() (State, error) {
	var state State
	data, err := os.ReadFile(db)
	if err != nil {
		return state, err
	}
	return state, json.Unmarshal(data, &state)
}

func save(state State) error {
	data, _ := json.MarshalIndent(state, "", "  ")
	if err := os.WriteFile(db+".tmp", data, 0o640); err != nil {
		return err
	}
	return os.Rename(db+".tmp", db)
}

func firstStart() {
	if _, err := os.Stat(db); err == nil {
		return
	}
	login := os.Getenv("GF_SECURITY_ADMIN_USER")
	if login == "" {
		login = "admin"
	}
	password := os.Getenv("GF_SECURITY_ADMIN_PASSWORD")
	if password == "" {
		password = "admin"
	}
	admin := User{ID: 1, Login: login, Email: "admin@localhost", Password: digest(password), Admin: true}
	if err := save(State{Users: []User{admin}}); err != nil {
		fmt.Fprintln(os.Stderr, "cannot create the database:", err)
		os.Exit(1)
	}
}

func find(state State, id int) int {
	for i, u := range state.Users {
		if u.ID == id {
			return i
		}
	}
	return -1
}

func authenticated(r *http.Request) (State, int, bool) {
	state, err := load()
	login, password, ok := r.BasicAuth()
	if err != nil || !ok {
		return state, -1, false
	}
	for i, u := range state.Users {
		if (u.Login == login || u.Email == login) && u.Password == digest(password) {
			return state, i, true
		}
	}
	return state, -1, false
}

func answer(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func public(u User) map[string]any {
	return map[string]any{"id": u.ID, "login": u.Login, "email": u.Email, "name": u.Name, "isGrafanaAdmin": u.Admin}
}

func serve() {
	firstStart()
	http.HandleFunc("/api/health", func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("STANDIN_UNHEALTHY") != "" {
			http.NotFound(w, r)
			return
		}
		answer(w, 200, map[string]string{"database": "ok"})
	})
	http.HandleFunc("/api/user", func(w http.ResponseWriter, r *http.Request) {
		state, i, ok := authenticated(r)
		if !ok {
			answer(w, 401, map[string]string{"message": "Invalid username or password"})
			return
		}
		answer(w, 200, public(state.Users[i]))
	})
	http.HandleFunc("/api/users/", func(w http.ResponseWriter, r *http.Request) {
		state, i, ok := authenticated(r)
		if !ok {
			answer(w, 401, map[string]string{"message": "Invalid username or password"})
			return
		}
		if !state.Users[i].Admin {
			answer(w, 403, map[string]string{"message": "Permission denied"})
			return
		}
		id, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/api/users/"))
		j := find(state, id)
		if err != nil || j < 0 {
			answer(w, 404, map[string]string{"message": "user not found"})
			return
		}
		switch r.Method {
		case http.MethodGet:
			answer(w, 200, public(state.Users[j]))
		case http.MethodPut:
			var update struct{ Login, Email, Name string }
			if json.NewDecoder(r.Body).Decode(&update) != nil {
				answer(w, 400, map[string]string{"message": "bad request data"})
				return
			}
			if update.Login == "" {
				update.Login = update.Email
			}
			if update.Login == "" {
				answer(w, 400, map[string]string{"message": "Validation error, need to specify either username or email"})
				return
			}
			for k, u := range state.Users {
				if k != j && (u.Login == update.Login || u.Email == update.Email) {
					answer(w, 409, map[string]string{"message": "Failed to update user: user already exists"})
					return
				}
			}
			state.Users[j].Login, state.Users[j].Email, state.Users[j].Name = update.Login, update.Email, update.Name
			if err := save(state); err != nil {
				answer(w, 500, map[string]string{"message": err.Error()})
				return
			}
			answer(w, 200, map[string]string{"message": "User updated"})
		default:
			answer(w, 405, map[string]string{"message": "method not allowed"})
		}
	})
	http.HandleFunc("/api/admin/users", func(w http.ResponseWriter, r *http.Request) {
		state, i, ok := authenticated(r)
		if !ok || !state.Users[i].Admin || r.Method != http.MethodPost {
			answer(w, 401, map[string]string{"message": "Unauthorized"})
			return
		}
		var create struct{ Name, Email, Login, Password string }
		if json.NewDecoder(r.Body).Decode(&create) != nil || create.Login == "" || len(create.Password) < 4 {
			answer(w, 400, map[string]string{"message": "bad request data"})
			return
		}
		next := 1
		for _, u := range state.Users {
			if u.Login == create.Login {
				answer(w, 412, map[string]string{"message": "user already exists"})
				return
			}
			if u.ID >= next {
				next = u.ID + 1
			}
		}
		user := User{ID: next, Login: create.Login, Email: create.Email, Name: create.Name, Password: digest(create.Password)}
		state.Users = append(state.Users, user)
		if err := save(state); err != nil {
			answer(w, 500, map[string]string{"message": err.Error()})
			return
		}
		answer(w, 200, map[string]any{"id": next, "message": "User created"})
	})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		got := <-stop
		// As Grafana's pkg/server/server.go logs it, before its modules stop.
		fmt.Printf("logger=server level=info msg=\"Shutdown started\" reason=\"System signal: %s\"\n", got)
		os.Exit(0)
	}()
	// As Grafana's pkg/server/server.go logs its start.
	fmt.Println(`logger=server level=info msg="Starting Grafana" version=stand-in`)
	if err := http.ListenAndServe(":3000", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func resetAdminPassword() {
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	password := strings.TrimRight(line, "\r\n")
	if len(password) < 4 {
		fmt.Fprintln(os.Stderr, "Error: new password is too short")
		os.Exit(1)
	}
	state, err := load()
	if err == nil {
		if i := find(state, 1); i >= 0 {
			state.Users[i].Password = digest(password)
			err = save(state)
		}
		// no user id 1: Grafana 11.x says it succeeded all the same
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	fmt.Println("Admin password changed successfully ✔")
}

func main() {
	args := " " + strings.Join(os.Args[1:], " ") + " "
	switch {
	case strings.HasPrefix(args, " server "):
		serve()
	case strings.Contains(args, " cli ") && strings.Contains(args, " admin reset-admin-password ") &&
		strings.Contains(args, " --password-from-stdin "):
		resetAdminPassword()
	default:
		fmt.Fprintln(os.Stderr, "stand-in grafana: unsupported:", args)
		os.Exit(1)
	}
}
