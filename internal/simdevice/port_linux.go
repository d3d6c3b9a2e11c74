package simdevice

import (
	"syscall"
	"time"
)

// reservePort binds a TCP socket to 127.0.0.1:port without listening.
func reservePort(port int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	// Without SO_REUSEADDR, so no other socket (Go's listeners set it) can
	// share the port.
	addr := &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	err = syscall.Bind(fd, addr)
	// A connection just closed may hold the port for a moment (LAST_ACK).
	for i := 0; err != nil && i < 50; i++ {
		time.Sleep(time.Millisecond)
		err = syscall.Bind(fd, addr)
	}
	if err != nil {
		// A connection in TIME_WAIT still names the port: share it then.
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if err := syscall.Bind(fd, addr); err != nil {
			syscall.Close(fd)
			return 0, err
		}
	}
	return fd, nil
}

func closeReserved(fd int) { syscall.Close(fd) }
